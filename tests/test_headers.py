"""Every response, pages, errors, files and the admin panel alike, carries the security headers."""

from __future__ import annotations

import re

import pytest

from mailer.headers import HEADERS, STATIC_MAX_AGE
from tests import factories

BASE_POLICY = "frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"


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
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    assert response.headers["Content-Security-Policy"].startswith(BASE_POLICY)


def test_a_page_runs_only_mailers_scripts_its_own_by_this_responses_nonce(login, user, client):
    """Should a user's text slip past the escaping, a script of it would not run: the
    policy names mailer's files and the one nonce its own inline scripts carry."""
    factories.make_mailing(user, name="Spring")
    browser = login(user)

    first, second = browser.get("/mailings/new"), browser.get("/mailings/new")

    nonces = []
    for page in (first, second):
        policy = page.headers["Content-Security-Policy"]
        nonce = re.fullmatch(
            rf"{re.escape(BASE_POLICY)}; script-src 'self' 'nonce-([\w-]+)'", policy
        )
        assert nonce is not None, policy
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
        assert inline == [f' nonce="{nonce[1]}"']  # the form's one inline script
        nonces.append(nonce[1])
    assert nonces[0] != nonces[1]


def test_the_admin_panel_keeps_inline_handlers_flask_admin_needs(login, superuser):
    """Flask-Admin's buttons run onclick handlers, which no nonce covers."""
    response = login(superuser).get("/admin/articles/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == BASE_POLICY


def test_https_asks_the_browser_to_stay_on_https_and_plain_http_asks_nothing(client):
    secure = client.get("/auth/login", base_url="https://mailer.example")
    plain = client.get("/auth/login")

    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain.headers


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
