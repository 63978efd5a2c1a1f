"""Logging: one format on stdout, request ids, nothing secret."""

import logging

from mailer.logs import redact


def test_each_response_carries_a_request_id_that_the_log_line_shows(client, caplog):
    caplog.set_level(logging.INFO, logger="mailer.request")
    response = client.get("/favicon.ico", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    records = [r for r in caplog.records if r.name == "mailer.request"]
    assert records[-1].request_id == "abc-123"
    assert "GET /favicon.ico 200" in records[-1].getMessage()


def test_a_strange_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": 'bad id with spaces and "quotes"'})
    assert response.headers["X-Request-ID"] != 'bad id with spaces and "quotes"'
    assert len(response.headers["X-Request-ID"]) == 16


def test_tokens_in_paths_are_redacted_from_the_log():
    token = "IjEi.ZXhhbXBsZS10b2tlbi10aGF0LWlzLWxvbmc.abcdefghijk"
    assert redact(f"/auth/confirm/{token}") == "/auth/confirm/[redacted]"
    assert redact("/mailings/42/edit") == "/mailings/42/edit"


def test_a_short_unsubscribe_token_is_redacted_from_the_log_too(client, caplog):
    from mailer.delivery.unsubscribe import unsubscribe_token

    # A low id, as a new installation's first clients have (ids are never reused, so the
    # suite's own clients are past it): whether or not it is a client's, it is a secret.
    token = unsubscribe_token(7, "ann@example.com")

    with caplog.at_level("INFO", logger="mailer.request"):
        status = client.get(f"/u/{token}").status_code

    assert f"GET /u/[redacted] {status}" in caplog.text
    assert token not in caplog.text


def test_the_procfile_leaves_gunicorns_access_log_off():
    """gunicorn's access log writes each request line as sent, tokens and query strings
    included; mailer's own request log (redacted, with the request id) replaces it."""
    from pathlib import Path

    procfile = (Path(__file__).parent.parent / "Procfile").read_text()
    [web] = [line for line in procfile.splitlines() if line.startswith("web:")]
    assert "gunicorn" in web
    assert "--access-log" not in web
