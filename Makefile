# mailer: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint format lock bench bench-send bench-home clean migration messages screenshots translations

# The venv is rebuilt from the lock whenever the lock changes.
$(STAMP): requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "mailer needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Compiled translations follow their .po files (built, never committed; fuzzy entries
# left out). The app compiles stale ones itself when it starts; this is for read-only installs.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard mailer/translations/*/LC_MESSAGES/*.po))
%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

## Compile the translations (.po -> .mo) ahead of time, e.g. for a read-only install.
translations: $(MO_FILES)

## Extract the interface's strings and merge them into every language's .po file.
messages: $(STAMP)
	$(BIN)/pybabel extract -F mailer/translations/babel.cfg \
		-o mailer/translations/messages.pot --no-location --sort-output --project mailer mailer
	$(BIN)/pybabel update -i mailer/translations/messages.pot -d mailer/translations \
		--no-fuzzy-matching --ignore-obsolete

## PNGs of the main pages in English and Russian for the README, into docs/screenshots/.
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

## Serve mailer on http://127.0.0.1:5000 with its scheduler (and worker with Redis).
## In debug mode unless FLASK_DEBUG says otherwise, in the environment or in .env.
DEBUG_IN_DOTENV := $(BIN)/python -c 'import dotenv; print(dotenv.dotenv_values(".env").get("FLASK_DEBUG") or 1)'
run: $(STAMP)
	FLASK_DEBUG=$${FLASK_DEBUG:-$$($(DEBUG_IN_DOTENV))} $(BIN)/flask --app wsgi up --host $(HOST) --port $(PORT)

## Linters, then the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
test: $(STAMP) lint
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

## A new migration for what the models changed: make migration MSG="what changed".
## Autogenerate misses CHECK constraints and data changes: read and edit the file.
migration: $(STAMP)
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what changed"'; exit 1; }
	@before=$$(ls migrations/versions); tmp=$$(mktemp -d) \
		&& export DATABASE_URL=sqlite:///$$tmp/schema.db SECRET_KEY=schema \
		&& $(BIN)/flask --app wsgi db upgrade >/dev/null \
		&& { $(BIN)/flask --app wsgi db migrate -m "$(MSG)" 2>&1 | grep -v " INFO " || true; }; \
	rm -rf $$tmp; \
	added=$$(ls migrations/versions | grep -vxF "$$before"); \
	if [ -n "$$added" ]; then echo "written: migrations/versions/$$added"; \
	else echo "no migration written: the models match the migrations"; fi

## Client import rows/s and every list page's time on a throwaway database (BENCH_ARGS="--clients 1000000").
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_clients.py $(BENCH_ARGS)

## Home page throughput, cached vs uncached, on a throwaway PostgreSQL database (needs wrk).
bench-home: $(STAMP)
	$(BIN)/python benchmarks/bench_home.py

## Sending throughput: the real pipeline against Postfix's smtp-sink (installs postfix if missing).
bench-send: $(STAMP)
	command -v smtp-sink >/dev/null || test -x /usr/sbin/smtp-sink \
		|| DEBIAN_FRONTEND=noninteractive apt-get install -y postfix
	$(BIN)/python benchmarks/bench_send.py $(BENCH_SEND_ARGS)
