# mailer: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint format lock bench bench-send clean schema messages

# The venv is rebuilt from the lock whenever the lock changes.
$(STAMP): requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "mailer needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Compiled translations follow their .po files.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard mailer/translations/*/LC_MESSAGES/messages.po))
%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

## Extract the interface's strings and merge them into every language's .po file.
messages: $(STAMP)
	$(BIN)/pybabel extract -F mailer/translations/babel.cfg -k _l -k lazy_gettext \
		-o mailer/translations/messages.pot --no-location --sort-output mailer
	$(BIN)/pybabel update -i mailer/translations/messages.pot -d mailer/translations --no-fuzzy-matching

## Serve mailer on http://127.0.0.1:5000 with its scheduler (and worker with Redis).
run: $(STAMP) $(MO_FILES)
	FLASK_DEBUG=$${FLASK_DEBUG:-1} $(BIN)/flask --app wsgi up --host $(HOST) --port $(PORT)

## Linters, then the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
test: $(STAMP) $(MO_FILES) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-pin requirements*.txt from pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url -o requirements.txt pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --extra dev -o requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

## Before the first release only: rebuild the one initial migration from the models.
schema: $(STAMP)
	rm -f migrations/versions/*.py
	tmp=$$(mktemp -d) && DATABASE_URL=sqlite:///$$tmp/schema.db SECRET_KEY=schema \
		$(BIN)/flask --app wsgi db migrate -m "initial schema" >/dev/null && rm -rf $$tmp
	ls migrations/versions
