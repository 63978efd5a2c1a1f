"""The home page: counts (own or service-wide), three random articles, and their cache."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
import time
import warnings
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event

from mailer import create_app
from mailer.extensions import db
from mailer.main import stats
from mailer.main.stats import counts_changed
from mailer.models import Client, Mailing, Message, utcnow
from tests.factories import make_article


def add_mailing(owner, *, status="started", is_active=True, emails=("a@example.com",)) -> Mailing:
    """Rows written directly, as any writer would, followed by counts_changed()."""
    message = Message(owner=owner, subject="Hello", body_text="Hi")
    now = utcnow()
    mailing = Mailing(
        owner=owner,
        message=message,
        start_at=now,
        end_at=now + timedelta(days=1),
        status=status,
        is_active=is_active,
    )
    for email in emails:
        if not Client.owned_by(owner).filter_by(email=email).first():
            db.session.add(Client(owner=owner, email=email))
    db.session.add(mailing)
    db.session.commit()
    counts_changed(owner.id)
    return mailing


def shown_counts(response) -> dict[str, int]:
    html = response.get_data(as_text=True)
    return {
        name: int(value) for name, value in re.findall(r'data-count="(\w+)">\s*(\d+)\s*<', html)
    }


@contextmanager
def counting_queries(app=None):
    """The counting SELECTs sent to the database (of `app`, else the test app) meanwhile."""
    seen: list[str] = []
    if app is None:
        engine = db.engine
    else:
        with app.app_context():
            engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany):
        if "count(" in statement.lower():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_visitor_sees_counts_for_the_whole_service(client, user, other_user):
    add_mailing(user, emails=("a@example.com", "b@example.com"))
    add_mailing(other_user, status="created", emails=("a@example.com",))
    assert shown_counts(client.get("/")) == {"mailings": 2, "active_mailings": 1, "clients": 2}


def test_logged_in_user_sees_only_their_own_counts(client, login, user, other_user):
    add_mailing(user, emails=("a@example.com",))
    add_mailing(other_user, emails=("x@example.com", "y@example.com"))
    add_mailing(other_user, status="completed")
    login(user)
    assert shown_counts(client.get("/")) == {"mailings": 1, "active_mailings": 1, "clients": 1}


def test_the_active_count_says_it_counts_the_mailings_started_and_lists_them(client, login, user):
    add_mailing(user)
    add_mailing(user, status="created")  # switched on, not sent yet: under Next sends
    login(user)

    home = client.get("/").get_data(as_text=True)

    assert shown_counts(client.get("/"))["active_mailings"] == 1
    assert re.search(
        r'<a class="stretched-link[^"]*" href="/mailings/\?status=started">'
        r"Mailings started</a>",
        home,
    )


def test_disabled_mailing_is_not_counted_as_active(client, login, user):
    add_mailing(user, is_active=False)
    login(user)
    assert shown_counts(client.get("/"))["active_mailings"] == 0


def test_second_home_page_load_runs_no_counting_queries(client, login, user):
    add_mailing(user)
    login(user)
    client.get("/")
    with counting_queries() as seen:
        response = client.get("/")
    assert response.status_code == 200
    assert seen == []
    assert shown_counts(response)["mailings"] == 1


def test_visitor_home_page_is_cached_too(client, user):
    add_mailing(user)
    client.get("/")
    with counting_queries() as seen:
        client.get("/")
    assert seen == []


def test_new_mailing_shows_at_once_on_the_owners_home_page(client, login, user):
    login(user)
    assert shown_counts(client.get("/"))["mailings"] == 0
    add_mailing(user)
    assert shown_counts(client.get("/"))["mailings"] == 1


def test_one_users_change_leaves_the_others_counts_cached(client, login, user, other_user):
    """Every write of anyone's (a client added, a dispatch) threw every user's counts away."""
    add_mailing(user)
    others = login(other_user)
    others.get("/")
    add_mailing(user)  # the owner's counts change, not the other user's
    with counting_queries() as seen:
        assert shown_counts(others.get("/"))["mailings"] == 0
    assert seen == []


def test_the_services_counts_are_recounted_once_they_are_older_than_the_cache_ttl(
    app, client, user
):
    add_mailing(user)
    assert shown_counts(client.get("/"))["mailings"] == 1
    add_mailing(user)
    assert shown_counts(client.get("/"))["mailings"] == 1  # a visitor's counts: cached
    ttl = app.config["CACHE_DEFAULT_TIMEOUT"]
    with time_machine.travel(time.time() + ttl + 1, tick=False):
        assert shown_counts(client.get("/"))["mailings"] == 2


def test_while_one_request_recounts_the_services_counts_the_others_get_the_last(app, client, user):
    """The count of distinct addresses reads every client (seconds at a million): each
    request that found the counts stale recounted, all at once."""
    add_mailing(user)
    client.get("/")
    add_mailing(user)
    ttl = app.config["CACHE_DEFAULT_TIMEOUT"]
    with time_machine.travel(time.time() + ttl + 1, tick=False):
        assert stats.cache_claim(stats.RECOUNT_KEY, 60)  # as a request recounting now would
        with counting_queries() as seen:
            assert shown_counts(client.get("/"))["mailings"] == 1
        assert seen == []


def test_counts_changed_before_commit_still_leaves_no_stale_counts(client, login, user):
    """A writer may call counts_changed() before committing; a recount in between is dropped."""
    login(user)
    client.get("/")
    message = Message(owner=user, subject="Hello", body_text="Hi")
    now = utcnow()
    db.session.add(Mailing(owner=user, message=message, start_at=now, end_at=now + timedelta(1)))
    db.session.flush()
    counts_changed(user.id)
    client.get("/")  # another request recounts before the commit: sees 0
    db.session.commit()
    assert shown_counts(client.get("/"))["mailings"] == 1


@pytest.fixture
def uncached_app(test_environ):
    return create_app(
        overrides={"TESTING": True}, environ={**test_environ, "CACHE_ENABLED": "False"}
    )


def test_an_app_with_the_cache_turned_off_starts_without_a_warning(test_environ):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_app(overrides={"TESTING": True}, environ={**test_environ, "CACHE_ENABLED": "0"})


def test_cache_disabled_recounts_on_every_load(uncached_app, user):
    add_mailing(user)
    client = uncached_app.test_client()
    client.get("/")
    with counting_queries(uncached_app) as seen:
        response = client.get("/")
    assert shown_counts(response)["mailings"] == 1
    assert len(seen) == 1


def test_home_page_shows_three_published_articles_and_never_a_draft(client):
    for number in range(5):
        make_article(f"Published {number}")
    make_article("A draft", published=False)
    html = client.get("/").get_data(as_text=True)
    assert len(re.findall(r"Published \d", html)) == 3
    assert "A draft" not in html


def test_home_page_without_articles_says_what_comes_next(client):
    assert "No articles yet" in client.get("/").get_data(as_text=True)


def test_manager_home_page_links_to_every_manager_screen_there_is(
    app, client, login, manager, user
):
    login(user)
    assert "Manager screens" not in client.get("/").get_data(as_text=True)
    login(manager)
    html = client.get("/").get_data(as_text=True)
    assert "Manager screens" in html
    for endpoint in ("manager.users", "manager.mailings", "manager.attempts"):
        if endpoint in app.view_functions:
            with app.test_request_context():
                from flask import url_for

                assert f'href="{url_for(endpoint)}"' in html


def steps(response) -> dict[str, str]:
    """Each first step, as "done", "next" (its main button) or "later"."""
    html = response.get_data(as_text=True)
    shown = {}
    for name, item in re.findall(r'data-step="(\w+)">(.*?)</li>', html, re.S):
        shown[name] = "done" if "Done" in item else "next" if "btn-primary" in item else "later"
    return shown


def test_a_new_user_is_shown_each_step_to_a_first_mailing_until_they_make_it(client, login, user):
    login(user)
    assert steps(client.get("/")) == {"clients": "next", "message": "later", "mailing": "later"}
    db.session.add(Client(owner=user, email="ann@example.com"))
    db.session.commit()
    counts_changed(user.id)
    assert steps(client.get("/")) == {"clients": "done", "message": "next", "mailing": "later"}
    db.session.add(Message(owner=user, subject="Hello", body_text="Hi"))
    db.session.commit()
    assert steps(client.get("/")) == {"clients": "done", "message": "done", "mailing": "next"}
    add_mailing(user)
    home = client.get("/")
    assert steps(home) == {}
    assert "Next sends" in home.get_data(as_text=True)


def test_visitors_see_no_steps_and_no_next_sends(client, user):
    add_mailing(user)
    html = client.get("/").get_data(as_text=True)
    assert "data-step" not in html
    assert "Next sends" not in html


def test_next_sends_are_the_users_own_switched_on_mailings_soonest_first(
    client, login, user, other_user
):
    now = utcnow()
    for days in (6, 2, 4, 1, 5, 3):
        mailing = add_mailing(user)
        mailing.name = f"In {days} days"
        mailing.next_send_at = now + timedelta(days=days)
    disabled = add_mailing(user, is_active=False)
    disabled.name, disabled.next_send_at = "Disabled", now
    ended = add_mailing(user, status="completed")
    ended.name = "Ended"
    theirs = add_mailing(other_user)
    theirs.name, theirs.next_send_at = "Theirs", now
    db.session.commit()
    login(user)
    html = client.get("/").get_data(as_text=True)
    listed = re.findall(r'href="/mailings/\d+">([^<]+)</a>', html)
    assert listed == [f"In {days} days" for days in (1, 2, 3, 4, 5)]


def test_next_sends_say_so_when_no_mailing_will_send(client, login, user):
    add_mailing(user, is_active=False)
    login(user)
    html = client.get("/").get_data(as_text=True)
    assert "None of your mailings will send again" in html


def test_a_users_counts_link_to_what_they_count(client, login, user):
    add_mailing(user)
    assert 'href="/mailings/' not in client.get("/").get_data(as_text=True)
    login(user)
    html = client.get("/").get_data(as_text=True)
    for link in ("/mailings/", "/mailings/?status=started", "/clients/"):
        assert f'class="stretched-link text-body-secondary" href="{link}"' in html


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_port():
    return _free_port()


@pytest.fixture
def app_with_redis_down(test_environ, redis_port):
    environ = {
        **test_environ,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CACHE_RETRY_SECONDS": "0",
    }
    return create_app(overrides={"TESTING": True}, environ=environ)


def test_site_answers_uncached_with_a_warning_when_redis_is_down(app_with_redis_down, user, caplog):
    add_mailing(user)
    make_article("Still readable")
    client = app_with_redis_down.test_client()
    with caplog.at_level(logging.WARNING, logger="mailer.main.stats"):
        home = client.get("/")
        blog = client.get("/blog/")
    assert home.status_code == 200
    assert shown_counts(home)["mailings"] == 1
    assert blog.status_code == 200
    assert "Still readable" in blog.get_data(as_text=True)
    assert "cache unavailable" in caplog.text


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_site_uses_the_cache_again_when_redis_returns(app_with_redis_down, redis_port, user):
    add_mailing(user)
    client = app_with_redis_down.test_client()
    assert client.get("/").status_code == 200
    with counting_queries(app_with_redis_down) as seen_while_down:
        client.get("/")
    assert len(seen_while_down) == 1  # nothing cached while Redis is away
    server = subprocess.Popen(  # noqa: S603 - a throwaway Redis on loopback
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(redis_port)
        client.get("/")  # reconnects and fills the cache
        with counting_queries(app_with_redis_down) as seen:
            response = client.get("/")
        assert seen == []
        assert shown_counts(response)["mailings"] == 1
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int) -> None:
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def test_every_page_has_an_icon_and_favicon_ico_serves_it(client):
    page = client.get("/").get_data(as_text=True)
    linked = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', page).group(1)
    with client.get(linked) as icon:
        assert icon.status_code == 200
        svg = icon.data
    assert svg.lstrip().startswith(b"<svg")
    with client.get("/favicon.ico") as fallback:  # asked by pages without the link (the admin's)
        assert fallback.status_code == 200
        assert fallback.mimetype == "image/svg+xml"
        assert fallback.data == svg
