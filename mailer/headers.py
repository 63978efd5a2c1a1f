"""Headers every response carries, unless it set its own.

- no other site may show mailer's pages in a frame (clickjacking: a button of
  ours under a page of theirs); mailer's own pages may, as the message preview
  does;
- a browser takes a file for the type it is served as, never guesses (an
  uploaded avatar or article image is never run as a script or page);
- a browser that reached mailer over HTTPS goes on using HTTPS for a year
  (Strict-Transport-Security), so nobody on the way can serve it a plain page;
- a link to another site does not tell it the page it came from: the paths of
  confirmation, reset and unsubscribe links hold their tokens;
- no plugin runs, no `<base>` moves the page's links elsewhere, and no form
  posts to another site: should a user's text ever slip past the escaping, it
  could not send a form (a password, say) away;
- a script runs only from mailer's own files, or written in the page with
  this response's nonce (`<script nonce="{{ csp_nonce() }}">`): should a
  user's text ever slip past the escaping, no script of it would run. The
  admin panel's pages are spared this (admin.py): Flask-Admin's own
  buttons run `onclick` handlers, which no nonce covers.

A page may narrow it further: a manager's look at a user's mailing loads
nothing from another site (`policy(remote_content=False)`: no image, style
sheet, font, video, sound or frame), so that the preview's remote content
cannot tell its owner when a manager opened it, and from where. Styles
written in the page itself stay allowed, as everywhere: they load nothing
from elsewhere, and the preview runs no script (its frame is sandboxed).

Static files (`/static/...`) are linked with their version (`?v=`, from the file's
modification time and size), and a versioned address is cached for a year: a page
then costs no request for its styles and scripts, and a changed file has a new
address. An address without it is checked again each time, as Flask does.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, g, request

POLICY = "frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",  # browsers older than frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


STATIC_MAX_AGE = 365 * 24 * 3600  # a versioned address never changes what it serves
HSTS_MAX_AGE = 365 * 24 * 3600  # a browser that came over HTTPS never tries plain HTTP


def csp_nonce() -> str:
    """This response's nonce: an inline script carrying it runs, any other does not."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def policy(*, remote_content: bool = True) -> str:
    """The Content-Security-Policy of a page of mailer's (the module's docstring)."""
    scripts = f"script-src 'self' 'nonce-{csp_nonce()}'"
    if remote_content:
        return f"{POLICY}; {scripts}"
    return f"{POLICY}; default-src 'self' data:; {scripts}; style-src 'self' 'unsafe-inline'"


def init_app(app: Flask) -> None:
    app.add_template_global(csp_nonce)

    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy())
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:  # over HTTPS (behind a proxy: TRUSTED_PROXIES), stay on it
            response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}")
        if request.endpoint == "static" and request.args.get("v") and response.status_code == 200:
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = STATIC_MAX_AGE
            response.cache_control.immutable = True
        return response

    @app.url_defaults
    def version_static_files(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and app.static_folder:
            try:
                found = os.stat(os.path.join(app.static_folder, values["filename"]))
            except OSError:
                return  # no such file: its address answers 404 as it is
            values.setdefault("v", f"{found.st_mtime_ns:x}{found.st_size:x}")
