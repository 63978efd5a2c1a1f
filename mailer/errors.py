"""Error pages: a clear message, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from mailer import outages
from mailer.extensions import db
from mailer.logs import logged_path

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist, or it is not yours."),
    405: _l("This action is not allowed here."),
    429: _l("Too many attempts. Please wait a few minutes and try again."),
    500: _l("Something went wrong on our side. It has been logged; please try again."),
}
# What an error page is called, in its title and heading (its number says little).
TITLES = {
    400: _l("Request not understood"),
    403: _l("No access"),
    404: _l("Page not found"),
    405: _l("Not allowed here"),
    413: _l("File too large"),
    429: _l("Too many attempts"),
    503: _l("Unavailable for now"),
}
UNREACHABLE = {
    "database": _l("Mailer cannot reach its database just now. Please try again in a few minutes."),
    "Redis": _l(
        "Mailer cannot reach its Redis server just now. Please try again in a few minutes."
    ),
}
SCHEMA_BEHIND = _l("Mailer is being upgraded just now. Please try again in a few minutes.")


def _wants_json() -> bool:
    """An API call, a client asking for JSON, or the health check: a monitor reads
    /healthz as JSON even when it fails before its view (a logged-in user's session
    loads the user first, from a database that may be down)."""
    return (
        request.path.startswith("/api/")
        or request.endpoint == "main.healthz"
        or request.accept_mimetypes.best == "application/json"
    )


def render_error(status: int, message: str | None = None):
    if message is None and status == 404 and not current_user.is_authenticated:
        message = _("This page does not exist.")  # nothing is a visitor's own
    message = str(message or MESSAGES.get(status, _("Something went wrong.")))
    if _wants_json():
        return {"error": message}, status
    return render_template("error.html", status=status, message=message), status


def _own_page(url: str | None) -> str | None:
    """`url` if it is a page of this site (the Referer of a form sent from it), else None."""
    if url and url.startswith(request.host_url):
        return url
    return None


def error_title(status: int) -> str:
    return str(TITLES.get(status, _("Something went wrong")))


def init_app(app: Flask) -> None:
    app.add_template_global(error_title)

    @app.before_request
    def refuse_nul_characters():
        """No text with a NUL character gets further: PostgreSQL cannot store or compare it
        (a browser cannot type one; a crafted request or pasted binary data can)."""
        fields = (*request.args.lists(), *request.form.lists())
        if any("\x00" in value for _, values in fields for value in values):
            log.warning("refused a NUL character in %s %s", request.method, logged_path())
            return render_error(
                400, _("The text sent holds a NUL character, which cannot be kept.")
            )
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        log.warning("CSRF check failed on %s: %s", logged_path(), error.description)
        if current_app.config["SESSION_COOKIE_SECURE"] and not request.is_secure:
            # The first try of a production setup over plain HTTP fails every form so.
            log.warning(
                "this request came over plain HTTP, and SESSION_COOKIE_SECURE keeps the "
                "session cookie to HTTPS, so no form can be sent: serve mailer over HTTPS "
                "(behind a proxy, set TRUSTED_PROXIES) or set SESSION_COOKIE_SECURE=False"
            )
        form_page = _own_page(request.referrer)
        if form_page is None or _wants_json():
            return render_error(
                400,
                _(
                    "The form expired or was not sent from this site. "
                    "Please go back, reload the page and try again."
                ),
            )
        # mailer.js kept what was typed; the form's page, opened anew, gives it back.
        message = _("The form expired (the page was open a long time, or you logged in again).")
        page = render_template("error.html", status=400, message=message, form_page=form_page)
        return page, 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        """Says how large a file may be, and leads back to the form it was sent from."""
        limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        message = _("The file is too large: this server takes files up to %(size)d MB.", size=limit)
        log.warning("refused an upload larger than %d MB on %s", limit, logged_path())
        form_page = _own_page(request.referrer)
        if form_page is None or _wants_json():
            return render_error(413, message)
        return render_template("error.html", status=413, message=message, form_page=form_page), 413

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        if outages.schema_behind(error):
            # The code is newer than the database: one line, not a traceback per page.
            log.error(
                "the database is not migrated to this code's schema (flask db upgrade)"
                " on %s %s: %s",
                request.method,
                logged_path(),
                outages.reason(error),
            )
            db.session.rollback()
            return render_error(503, SCHEMA_BEHIND)
        service = outages.unreachable(error)
        if service is None:
            log.exception("Unhandled error on %s %s", request.method, logged_path())
        else:  # not mailer's bug: one line for the operator, and a page that says what is down
            log.error(
                "%s unreachable on %s %s: %s",
                service,
                request.method,
                logged_path(),
                outages.reason(error),
            )
        db.session.rollback()
        if service == "database":
            # Nobody can be loaded now: the page is rendered as for a visitor, or its
            # template's first look at current_user would raise again.
            current_app.login_manager._update_request_context_with_user()
        if service is not None:
            return render_error(503, UNREACHABLE[service])
        return render_error(InternalServerError.code)
