"""Login throttling: in-process in the embedded default, shared through Redis otherwise."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailer import create_app
from mailer.auth.throttle import MemoryThrottle, RedisThrottle, login_throttle
from tests import factories


@pytest.fixture
def strict(app, monkeypatch):
    """Three failures lock for a minute (the defaults are 5 and 300 s)."""
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    monkeypatch.setitem(app.config, "LOGIN_LOCKOUT_SECONDS", 60)


def fail(client, email="user@example.com", times=1, ip="10.0.0.1"):
    for _ in range(times):
        response = client.post(
            "/auth/login",
            data={"email": email, "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": ip},
        )
    return response


def log_in(client, email="user@example.com", ip="10.0.0.1"):
    return client.post(
        "/auth/login",
        data={"email": email, "password": factories.PASSWORD},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_repeated_failures_for_one_email_answer_429_even_with_the_right_password(
    strict, client, user
):
    assert fail(client, times=3).status_code == 200

    response = log_in(client, ip="10.0.0.2")  # another IP: the email is what is locked

    assert response.status_code == 429
    assert b"Too many failed attempts. Please wait 1 minute and try again" in response.data


def test_repeated_failures_from_one_ip_lock_that_ip_for_every_email(strict, client, user):
    for number in range(3):
        fail(client, email=f"guess{number}@example.com")

    assert log_in(client).status_code == 429
    assert log_in(client, ip="10.0.0.9").status_code == 302


def test_failures_below_the_limit_do_not_lock(strict, client, user):
    fail(client, times=2)

    assert log_in(client).status_code == 302


def test_memory_throttle_unlocks_after_the_cooling_off_period():
    now = [1000.0]
    throttle = MemoryThrottle(max_failures=2, lockout_seconds=60, clock=lambda: now[0])
    keys = ["email:a@example.com"]

    throttle.record(keys)
    throttle.record(keys)
    assert throttle.retry_after(keys) == 60
    now[0] += 59
    assert throttle.retry_after(keys) == 1
    now[0] += 2
    assert throttle.retry_after(keys) == 0


def test_memory_throttle_is_used_without_redis(app):
    if app.config["REDIS_URL"]:
        pytest.skip("this run has Redis")
    assert isinstance(login_throttle(), MemoryThrottle)


def test_redis_throttle_is_shared_between_processes(strict, redis_conn, app, test_environ, user):
    assert isinstance(login_throttle(), RedisThrottle)
    # A second app stands in for another web process: same Redis, nothing else shared.
    other_process = create_app(
        overrides={"TESTING": True, "WTF_CSRF_ENABLED": False, "LOGIN_MAX_FAILURES": 3},
        environ=test_environ,
    )
    other_process.test_client_class = app.test_client_class
    fail(app.test_client(), times=3)

    response = log_in(other_process.test_client(), ip="10.0.0.7")

    assert response.status_code == 429
    ttl = redis_conn.ttl(f"{RedisThrottle.PREFIX}email:user@example.com")
    assert 0 < ttl <= 60


def test_redis_throttle_forgets_the_email_after_a_good_login(strict, redis_conn, client, user):
    fail(client, times=2)

    assert log_in(client).status_code == 302

    assert redis_conn.get(f"{RedisThrottle.PREFIX}email:user@example.com") is None
    assert redis_conn.get(f"{RedisThrottle.PREFIX}ip:10.0.0.1") == b"2"


def test_failed_logins_lockouts_and_logins_are_logged_without_the_password(
    strict, client, user, other_user, caplog
):
    """What an operator (or fail2ban) watches for: one line each, the address masked."""
    caplog.set_level("INFO", logger="mailer.auth.routes")
    fail(client, times=3)
    assert log_in(client).status_code == 429
    assert log_in(client, email="other@example.com", ip="10.0.0.2").status_code == 302

    lines = [r.getMessage() for r in caplog.records if r.name == "mailer.auth.routes"]
    assert lines[:3] == ["failed login for u***@example.com from 10.0.0.1"] * 3
    assert lines[3].startswith("login refused for u***@example.com from 10.0.0.1: locked for ")
    assert lines[4:] == [f"user {other_user.id} logged in from 10.0.0.2"]
    assert "wrong-password" not in caplog.text
    assert factories.PASSWORD not in caplog.text
    assert "user@example.com" not in caplog.text


def test_wrong_passwords_sent_at_once_are_counted_before_they_are_checked(strict, app, user):
    """Twelve tries at one moment: only the limit's worth are checked, the rest locked out,
    though none had failed yet when the others were let through."""
    barrier = threading.Barrier(12)

    def try_once() -> int:
        client = app.test_client()
        barrier.wait()
        return fail(client).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: try_once(), range(12)))

    assert sorted(answers) == [200] * 3 + [429] * 9


def test_a_good_login_is_no_failure_of_its_ip(strict, client, user, other_user):
    fail(client, email="guess@example.com", times=2)
    assert log_in(client, email="other@example.com").status_code == 302
    client.get("/auth/logout")

    assert log_in(client).status_code == 302  # the IP's two failures, not three


def test_the_current_password_of_a_change_is_throttled_as_a_login(strict, client, login, user):
    login(user)

    def change(current: str):
        return client.post(
            "/auth/password",
            data={
                "current_password": current,
                "password": "n3w-Passw0rd!",
                "password_confirm": "n3w-Passw0rd!",
            },
        )

    wrong = [change("guess").get_data(as_text=True) for _ in range(3)]
    right = change(factories.PASSWORD)

    assert all("This is not your current password." in page for page in wrong)
    assert right.status_code == 200
    assert "Too many wrong passwords. Please wait 1 minute and try again." in right.get_data(
        as_text=True
    )
