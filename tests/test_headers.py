"""Every response, pages, errors, files and the admin panel alike, carries the security headers."""

from __future__ import annotations

import re

import pytest

from mailer.headers import HEADERS, STATIC_MAX_AGE


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


def test_pages_link_static_files_by_version_and_a_versioned_one_is_cached_for_a_year(client):
    """Each page load revalidated five files; the version changes with the file."""
    page = client.get("/auth/login").text
    link = re.search(r'href="(/static/mailer\.css\?v=\w+)"', page)
    assert link is not None

    versioned = client.get(link[1])
    plain = client.get("/static/mailer.css")

    assert versioned.status_code == 200
    assert versioned.cache_control.max_age == STATIC_MAX_AGE
    assert versioned.cache_control.immutable
    assert plain.cache_control.max_age != STATIC_MAX_AGE
