"""Headers every response carries, unless it set its own.

- no other site may show mailer's pages in a frame (clickjacking: a button of
  ours under a page of theirs); mailer's own pages may, as the message preview
  does;
- a browser takes a file for the type it is served as, never guesses (an
  uploaded avatar or article image is never run as a script or page);
- a link to another site does not tell it the page it came from: the paths of
  confirmation, reset and unsubscribe links hold their tokens.
"""

from __future__ import annotations

from flask import Flask

HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",  # browsers older than frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
