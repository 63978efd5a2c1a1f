"""Interface language and time zone of the person looking at a page."""

from __future__ import annotations

import logging
import os
import tempfile
from functools import cache
from pathlib import Path
from zoneinfo import available_timezones

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request, session
from flask_babel import LazyString, format_decimal, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context

from mailer.extensions import babel

log = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "ru": "Русский"}


def written_in(text: str) -> str:
    """The language of LANGUAGES a text is written in, by its letters: Russian when most
    of them are Cyrillic, else English (the demo's articles; those from before articles
    said their language)."""
    letters = [letter for letter in text if letter.isalpha()]
    cyrillic = sum("\u0400" <= letter <= "\u04ff" for letter in letters)
    return "ru" if letters and cyrillic * 2 > len(letters) else "en"


# <language>/LC_MESSAGES/messages.po here; the .mo next to each is built, not committed.
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str | None:
    """The user's setting, else the language chosen in this session, else the browser's.

    Outside a request (a worker, a command) there is nobody looking: None means
    the default language, and code writing to a person wraps itself in
    `flask_babel.force_locale(their_locale)`.
    """
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    if session.get("locale") in LANGUAGES:
        return session["locale"]
    return request.accept_languages.best_match(LANGUAGES.keys()) or "en"


# In the tz database but no place's zone: the machine's own setting and a placeholder.
# The dates' formatter (pytz, under Flask-Babel) knows neither: a user set to one got 500s.
NOT_PLACES = frozenset({"localtime", "Factory"})


@cache
def _known_timezones() -> dict[str, str]:
    """Each zone a person or a mailing may be in, by its name in lower case."""
    return {name.lower(): name for name in available_timezones() - NOT_PLACES}


def known_timezones() -> list[str]:
    """The zones the forms offer, sorted."""
    return sorted(_known_timezones().values())


def timezone_named(typed: str) -> str | None:
    """The zone a person typed, as its name is spelled ("europe/moscow" -> "Europe/Moscow");
    None when no zone has that name."""
    return _known_timezones().get(typed.strip().lower())


def is_known_timezone(name: str) -> bool:
    """A place's zone, spelled as the tz database does."""
    return timezone_named(name) == name


def select_timezone() -> str:
    """The user's zone; the default one for a visitor, or for a zone this machine does not
    know (saved before the forms offered only known ones, or gone from its tz database)."""
    from flask import current_app

    if has_request_context() and current_user and current_user.is_authenticated:
        if is_known_timezone(current_user.timezone):
            return current_user.timezone
        log.warning(
            "user %s: unknown time zone %r, showing times in the default one",
            current_user.id,
            current_user.timezone,
        )
    return current_app.config["DEFAULT_TIMEZONE"]


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """Flask-Babel's ngettext, with `%(num)s` written as the viewer writes numbers
    ("1,000,000" in English, "1 000 000" in Russian). So every message says `%(num)s`,
    never `%(num)d`; a `num=` of the caller's own is left as it is."""
    variables.setdefault("num", format_decimal(num))
    return get_translations().ungettext(singular, plural, num) % variables


def lazy_ngettext(singular: str, plural: str, num: int, **variables) -> LazyString:
    """`ngettext` translated when shown (a form's message, built at import time)."""
    return LazyString(ngettext, singular, plural, num, **variables)


def add_number_texts(shown: dict, *names: str) -> dict:
    """Adds `<name>_text`, the count as the viewer writes it, for each count a page's
    script writes (JSON keeps the number itself)."""
    for name in names:
        shown[f"{name}_text"] = format_decimal(shown[name])
    return shown


def _numbers_as_the_viewer_writes_them(jinja_ngettext):
    """Templates' ngettext (Jinja's, which escapes the variables) with `num` written as
    `ngettext` above writes it."""

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", format_decimal(num))
        return jinja_ngettext(context, singular, plural, num, **variables)

    return ngettext


# The list separator of Excel (and LibreOffice) set up for each language: a CSV file
# split on anything else opens with every row in one column.
CSV_DELIMITERS = {"ru": ";"}


def csv_delimiter() -> str:
    """The separator of the CSV files the viewer downloads, for their spreadsheet program."""
    return CSV_DELIMITERS.get(str(get_locale() or "en"), ",")


def stale_catalogues(folder: Path = TRANSLATIONS) -> list[Path]:
    """The .po files whose compiled .mo is missing or older than they are."""
    return [
        po
        for po in sorted(folder.glob("*/LC_MESSAGES/*.po"))
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]


def compile_catalogues(folder: Path = TRANSLATIONS) -> list[Path]:
    """Compile every stale .po (what `make` and `pybabel compile` do); fuzzy entries are left out.

    Each .mo is written under a temporary name of its own and renamed into place,
    so a process reading it (or compiling it too) meanwhile never sees half a file.
    """
    compiled = []
    for po in stale_catalogues(folder):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        handle, name = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as target:
            write_mo(target, catalog)
        os.chmod(name, 0o644)  # mkstemp's 0600 would hide it from a web server's own user
        Path(name).replace(po.with_suffix(".mo"))
        compiled.append(po.with_suffix(".mo"))
    return compiled


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals.update(
        LANGUAGES=LANGUAGES,
        get_locale=get_locale,
        viewer_timezone=select_timezone,
        ngettext=_numbers_as_the_viewer_writes_them(app.jinja_env.globals["ngettext"]),
    )
    try:
        compile_catalogues()
    except OSError as error:
        # A read-only install: pages still work, in English; say why instead of failing.
        log.warning(
            "translations not compiled (%s): run `make translations` or "
            '`pybabel compile -d mailer/translations -D "messages admin"` where the code '
            "is writable",
            error,
        )
