"""Interface language and time zone of the person looking at a page."""

from __future__ import annotations

from flask import Flask, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from mailer.extensions import babel

LANGUAGES = {"en": "English", "ru": "Русский"}


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


def select_timezone() -> str:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.timezone
    from flask import current_app

    return current_app.config["DEFAULT_TIMEZONE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, get_locale=get_locale)
