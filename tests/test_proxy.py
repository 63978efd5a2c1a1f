"""Behind reverse proxies: the client's own address, only from proxies the operator trusts."""

from __future__ import annotations

import pytest

from mailer import create_app
from tests import factories

PROXY = "10.0.0.1"  # every request reaches the app from the proxy


def _app(test_environ, trusted_proxies: int):
    return create_app(
        overrides={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "LOGIN_MAX_FAILURES": 3,
            "TRUSTED_PROXIES": trusted_proxies,
        },
        environ=test_environ,
    )


def _log_in(client, visitor: str, email: str, password: str):
    return client.post(
        "/auth/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": PROXY},
        headers={"X-Forwarded-For": visitor},
    )


@pytest.mark.parametrize(("trusted_proxies", "locked_out"), [(1, False), (0, True)])
def test_a_visitors_failed_logins_lock_out_only_them_behind_a_trusted_proxy(
    app, test_environ, user, trusted_proxies, locked_out
):
    client = _app(test_environ, trusted_proxies).test_client()
    for number in range(3):  # one visitor guesses three addresses
        _log_in(client, "203.0.113.1", f"guess{number}@example.com", "wrong-password")

    response = _log_in(client, "203.0.113.2", user.email, factories.PASSWORD)

    # Trusted, the proxy's header tells visitors apart; untrusted, anyone could forge it,
    # so every visitor is the proxy's address and the guesser locked out the other.
    assert (response.status_code == 429) is locked_out
