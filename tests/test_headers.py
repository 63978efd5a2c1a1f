"""Every response, pages, errors, files and the admin panel alike, carries the security headers."""

from __future__ import annotations

import pytest

from mailer.headers import HEADERS


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/auth/login", 200),
        ("/static/mailer.css", 200),
        ("/no-such-page", 404),
        ("/admin/", 302),
    ],
)
def test_a_response_carries_the_security_headers(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in HEADERS} == {
        "Content-Security-Policy": (
            "frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
        ),
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
