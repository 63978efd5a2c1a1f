"""mailer: a self-hosted email mailing service.

`create_app()` builds the Flask app: configuration from the environment,
extensions, blueprints, the admin panel, CLI commands and error pages.
Nothing creates an app at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import ConfigError, load_config
from mailer import headers, logs
from mailer.extensions import cache, csrf, db, login_manager, migrate, principal


def create_app(overrides: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app. `environ` defaults to `.env` under the process environment."""
    app = Flask(__name__)
    if environ is None:
        dotenv = dotenv_values(Path(app.root_path).parent / ".env")
        environ = {**{k: v for k, v in dotenv.items() if v is not None}, **os.environ}
    try:
        app.config.from_mapping(load_config(environ, Path(app.instance_path)))
    except ConfigError as error:
        # One clear line for the operator, never a traceback.
        raise SystemExit(f"mailer: configuration error: {error}") from None
    app.config.from_mapping(overrides or {})
    if proxies := app.config["TRUSTED_PROXIES"]:
        # The client's address (the login throttle's key) and scheme, as the proxies saw them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    logs.init_app(app)
    _warn_of_mail_settings(app)
    headers.init_app(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_admin(app)
    _register_cli(app)
    return app


def _warn_of_mail_settings(app: Flask) -> None:
    from mailer.mail import mail_settings_warnings

    for warning in mail_settings_warnings(app.config):
        logging.getLogger("mailer").warning("%s", warning)


def _init_extensions(app: Flask) -> None:
    from mailer import forms, i18n, permissions

    # Its listeners keep the day's sends of a deleted mailing or account in the day's count.
    from mailer.delivery import ratelimit  # noqa: F401

    # Importing the submodule `mailer.mail` rebinds the package attribute `mail`
    # (this module's global) to that module; read the extension from its home.
    from mailer.extensions import mail

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    login_manager.init_app(app)
    principal.init_app(app)
    cache.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    permissions.init_app(app)
    i18n.init_app(app)
    forms.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from mailer import auth, blog, errors, mailings, main, manager
    from mailer.ids import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route uses it
    for blueprint_package in (main, auth, mailings, manager, blog):
        app.register_blueprint(blueprint_package.bp)
    from mailer.delivery import unsubscribe

    app.register_blueprint(unsubscribe.bp)  # /u/<token>: the one route of delivery
    errors.init_app(app)


def _register_admin(app: Flask) -> None:
    from mailer.blog import admin

    admin.init_app(app)


def _register_cli(app: Flask) -> None:
    from mailer import cli

    cli.init_app(app)
