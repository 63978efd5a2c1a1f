"""Logins kept on the server: logging out ends one for good; the list of where one is logged in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from mailer.auth.sessions import describe_agent
from mailer.delivery import jobs, scheduler
from mailer.extensions import db
from mailer.models import UserSession, utcnow
from tests import factories

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)


def browser(app, user_agent: str = FIREFOX_LINUX, *, remember: bool = False):
    """A new browser, logged in as user@example.com through the login form."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    data = {"email": "user@example.com", "password": factories.PASSWORD}
    client.post("/auth/login", data={**data, "remember": "y"} if remember else data)
    return client


def copy_of(app, original):
    copied = app.test_client()
    for cookie in original._cookies.values():
        copied.set_cookie(cookie.key, cookie.value)
    return copied


def is_logged_in(client) -> bool:
    return client.get("/clients/").status_code == 200


def test_logging_out_ends_the_login_for_a_copy_of_its_cookies_too(app, user):
    laptop = browser(app, remember=True)
    stolen = copy_of(app, laptop)
    assert is_logged_in(stolen)

    laptop.post("/auth/logout")

    assert not is_logged_in(laptop)
    assert not is_logged_in(stolen)
    with stolen.session_transaction() as session:
        session.pop("_user_id", None)  # left with the remember cookie alone
    assert not is_logged_in(stolen)


def test_the_list_shows_each_login_and_which_is_this_browser(app, user):
    laptop = browser(app, FIREFOX_LINUX)
    office = browser(app, CHROME_WINDOWS)

    page = laptop.get("/auth/logins").text

    assert "Firefox on Linux" in page
    assert "Chrome on Windows" in page
    items = page.split('class="list-group-item')[1:]
    assert len(items) == 2
    this, other = sorted(items, key=lambda item: "this browser" not in item)
    assert "Firefox on Linux" in this
    assert "/end" not in this  # no Log out button for the browser one is using
    assert "Chrome on Windows" in other
    assert "this browser" not in other
    assert "/end" in other
    assert "127.0.0.1" in page
    assert is_logged_in(office)


def test_logging_out_another_login_from_the_list_logs_that_browser_out(app, user):
    laptop = browser(app, FIREFOX_LINUX)
    office = browser(app, CHROME_WINDOWS, remember=True)
    office_login = db.session.scalar(
        db.select(UserSession.id).where(UserSession.user_agent == CHROME_WINDOWS)
    )

    answer = laptop.post(f"/auth/logins/{office_login}/end", follow_redirects=True)

    assert "That login has ended: its browser is logged out." in answer.text
    assert "Chrome on Windows" not in answer.text
    assert not is_logged_in(office)
    assert is_logged_in(laptop)


def test_another_users_login_cannot_be_ended(app, login, other_user, user):
    theirs = browser(app)  # user@example.com's
    their_login = db.session.scalar(db.select(UserSession.id))

    answer = login(other_user).post(f"/auth/logins/{their_login}/end")

    assert answer.status_code == 404
    assert is_logged_in(theirs)


def test_log_out_everywhere_else_from_the_list_keeps_this_browser(app, user):
    laptop, office, phone = browser(app), browser(app, CHROME_WINDOWS), browser(app)

    answer = laptop.post("/auth/logout-everywhere", follow_redirects=True)

    assert "You are logged out on every other device and browser." in answer.text
    assert [is_logged_in(b) for b in (laptop, office, phone)] == [True, False, False]


def test_a_login_unused_for_longer_than_a_remembered_one_lasts_ends(app, user):
    laptop = browser(app, remember=True)
    db.session.execute(db.update(UserSession).values(last_seen_at=utcnow() - timedelta(days=31)))
    db.session.commit()

    assert not is_logged_in(laptop)

    browser(app)  # the next login clears the dead one away
    assert db.session.scalar(db.select(db.func.count()).select_from(UserSession)) == 1


def test_a_login_that_ended_leaves_the_list_and_an_hourly_job_deletes_it(app, user):
    """Its IP address and browser were kept until the user's next login, if ever."""
    laptop = browser(app, FIREFOX_LINUX, remember=True)
    browser(app, CHROME_WINDOWS)
    db.session.execute(
        db.update(UserSession)
        .where(UserSession.user_agent == CHROME_WINDOWS)
        .values(last_seen_at=utcnow() - timedelta(days=31))
    )
    db.session.commit()
    assert "Chrome on Windows" not in laptop.get("/auth/logins").text

    assert jobs.forget_ended_logins_job() == 1

    assert db.session.scalars(db.select(UserSession.user_agent)).all() == [FIREFOX_LINUX]
    assert is_logged_in(laptop)
    assert ("mailer.delivery.jobs.forget_ended_logins_job", 3600) in {
        (job.func, job.interval_seconds) for job in scheduler.periodic_jobs(app)
    }


def test_last_active_is_noted_at_most_every_five_minutes(app, user):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        laptop = browser(app)

    def last_seen():
        db.session.expire_all()
        return db.session.scalar(db.select(UserSession.last_seen_at))

    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        assert is_logged_in(laptop)
    assert last_seen() == start
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        assert is_logged_in(laptop)
    assert last_seen() == start + timedelta(minutes=6)


@pytest.mark.parametrize(
    ("user_agent", "described"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (CHROME_WINDOWS, "Chrome on Windows"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", "Unknown browser"),
    ],
)
def test_a_browser_is_named_by_its_user_agent(app, user_agent, described):
    assert describe_agent(user_agent) == described
