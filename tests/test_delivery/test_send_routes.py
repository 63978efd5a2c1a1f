""" "Send now" on the mailing page and its live progress: the owner's only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mailer.delivery import dispatch, jobs, tallies
from mailer.extensions import db
from mailer.mailings import mailing_queries, mailing_routes
from mailer.models import Delivery, Run, utcnow
from tests import factories
from tests.test_delivery.conftest import free_port


def test_owner_sends_now_and_sees_the_progress(login, user, via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    client = login(user)
    response = client.post(f"/mailings/{mailing.id}/send-now")
    assert response.status_code == 302
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}
    progress = client.get(f"/mailings/{mailing.id}/progress").get_json()
    assert progress["sent"] == 2
    assert progress["pending"] == 0
    assert progress["failed"] == 0
    assert progress["finished_at"] is not None
    assert progress["paused_until"] is None
    db.session.expire_all()
    assert db.session.scalars(db.select(Run)).one().forced is True


def test_mailing_page_shows_send_now_and_the_latest_counts(login, user, via_sink, mailing_for):
    mailing = mailing_for("ann@example.com")
    client = login(user)
    page = client.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert f"/mailings/{mailing.id}/send-now" in page
    assert "Nothing sent yet" in page
    client.post(f"/mailings/{mailing.id}/send-now")
    page = client.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert 'id="send-progress"' in page
    assert f"/mailings/{mailing.id}/progress" in page


@pytest.mark.parametrize(
    ("frequency", "starts_in", "again"),
    [
        ("once", timedelta(days=2), True),
        ("once", timedelta(minutes=5), False),  # Send now is that send (SEND_NOW_COVERS)
        ("daily", timedelta(days=2), False),  # a schedule goes on anyway
    ],
)
def test_send_now_on_a_once_mailing_says_its_start_sends_it_again(
    login, user, mailing_for, frequency, starts_in, again
):
    start = utcnow().replace(microsecond=0) + starts_in
    mailing = mailing_for(
        "ann@example.com", frequency=frequency, start_at=start, next_send_at=start
    )
    page = login(user).get(f"/mailings/{mailing.id}").text
    question = "It goes out again at its start, " + f"{start:%Y-%m-%d %H:%M}"
    assert (question in page) is again
    assert ("outside its schedule?" in page) is not again


def test_the_live_update_writes_into_the_runs_row_what_the_page_showed_there(
    login, user, mailing_for
):
    """The row's "failed" counts the unknown ones too, and counts are written with the
    viewer's separators; the update (`<count>_text`) must not change either."""
    mailing = mailing_for("ann@example.com", "bob@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    tallies.add(run_id, attempts=2, sent=1500, failed=1000, unknown=1)
    db.session.get(Run, run_id).total = 4000  # as a bigger mailing's run would
    db.session.commit()
    browser = login(user)

    page = browser.get(f"/mailings/{mailing.id}").text
    update = browser.get(f"/mailings/{mailing.id}/progress").get_json()

    row = re.search(rf'<tr data-run="{run_id}">.*?</tr>', page, re.DOTALL).group(0)
    shown = dict(re.findall(r'data-count="(\w+)">([^<]+)<', row))
    assert shown["failed_or_unknown"] == "1,001"
    assert shown["total"] == "4,000"
    assert {name: update[f"{name}_text"] for name in shown} == shown
    assert update["sent"] == 1500  # the number itself, for scripts


def test_a_run_finishing_while_the_page_is_read_never_shows_finished_beside_old_counts(
    login, user, via_sink, mailing_for, monkeypatch
):
    """The page reads the latest run twice: for the box above and for its row in the runs
    table. When the run finishes between the two reads, a box that says "Finished." (and
    so stops updating) must not sit above a row that stays at the old counts."""
    mailing = mailing_for("ann@example.com", "bob@example.com")
    run_id = dispatch.start_forced_run(mailing.id)
    finished = []

    def then_the_run_finishes(read):
        def reading(*args, **kwargs):
            result = read(*args, **kwargs)
            if not finished:  # after the page's first read of the run, whichever it is
                for batch in dispatch.run_batches(run_id):
                    jobs.send_batch_job(run_id, batch)  # as a worker would, meanwhile
                finished.append(run_id)
            return result

        return reading

    for module, name in ((mailing_routes, "mailing_progress"), (mailing_queries, "run_summaries")):
        monkeypatch.setattr(module, name, then_the_run_finishes(getattr(module, name)))
    page = login(user).get(f"/mailings/{mailing.id}").get_data(as_text=True)

    assert finished
    assert via_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}
    box = page.split('id="send-progress"', 1)[1].split("</section>", 1)[0]
    [box_sent] = re.findall(r'<span data-count="sent">(\d+)</span>', box)
    [row_sent] = re.findall(r'<td [^>]*data-count="sent">(\d+)</td>', page)
    state = re.search(r"data-state>(.*?)</p>", page, re.S).group(1)
    assert row_sent == "2"  # the row is read last: it is never behind the box
    if "Finished." in state:
        assert box_sent == "2"
    else:
        assert "mailerPoll(" in page  # the box catches up by itself


def _send_now_button(page: str) -> str:
    return re.search(r'<button type="submit"[^>]*>Send now</button>', page).group(0)


def test_send_now_while_the_latest_send_is_unfinished_sends_nothing_more_and_says_why(
    login, user, via_sink, mailing_for, run_jobs
):
    mailing = mailing_for("ann@example.com", "bob@example.com")
    run_id = dispatch.start_forced_run(mailing.id)  # created, its batches not sent yet
    client = login(user)
    page = client.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert "disabled" in _send_now_button(page)
    assert "“Send now” waits until this send has finished." in page

    response = client.post(f"/mailings/{mailing.id}/send-now", follow_redirects=True)

    assert "The latest send has not finished yet, so this one was not started" in response.text
    assert [run.id for run in db.session.scalars(db.select(Run))] == [run_id]
    for batch in dispatch.run_batches(run_id):
        jobs.send_batch_job(run_id, batch)
    page = client.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    assert "disabled" not in _send_now_button(page)
    assert "waits until this send has finished" not in page
    client.post(f"/mailings/{mailing.id}/send-now")  # the first has finished: a new send
    run_jobs()
    assert via_sink.to_counts() == {"ann@example.com": 2, "bob@example.com": 2}


def test_two_send_nows_at_the_same_moment_start_one_run(
    login, user, via_sink, mailing_for, monkeypatch, run_jobs
):
    """Both requests find no unfinished run (the other has not committed yet): the unique
    index over unfinished forced runs refuses the second."""
    mailing = mailing_for("ann@example.com")
    first = dispatch.start_forced_run(mailing.id)
    monkeypatch.setattr(dispatch, "unfinished_run", lambda mailing_id: None)

    response = login(user).post(f"/mailings/{mailing.id}/send-now", follow_redirects=True)

    assert "The latest send has not finished yet" in response.text
    assert [run.id for run in db.session.scalars(db.select(Run))] == [first]


def test_send_now_while_redis_is_away_keeps_the_run_and_says_it_starts_by_itself(
    app_with_no_redis, user, mailing_for, caplog
):
    """The run is committed before its batches are queued: when the queue cannot take
    them, the page says the send is saved and needs no second click (a second one would
    be refused anyway), instead of an error page after the fact."""
    mailing = mailing_for("ann@example.com")
    browser = app_with_no_redis.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = factories.login_key(user)
    caplog.set_level("WARNING")

    response = browser.post(f"/mailings/{mailing.id}/send-now", follow_redirects=True)

    assert response.status_code == 200
    assert "The send is saved, but the job queue cannot be reached just now" in response.text
    [run] = db.session.scalars(db.select(Run).where(Run.mailing_id == mailing.id))
    assert run.finished_at is None
    assert f"run {run.id}: not queued, Redis unreachable" in caplog.text
    assert "Traceback" not in caplog.text


def test_another_users_mailing_answers_404(login, other_user, via_sink, mailing_for, run_jobs):
    mailing = mailing_for("ann@example.com")
    client = login(other_user)
    assert client.post(f"/mailings/{mailing.id}/send-now").status_code == 404
    assert client.get(f"/mailings/{mailing.id}/progress").status_code == 404
    run_jobs()
    assert via_sink.received == []
    assert db.session.scalars(db.select(Run)).all() == []


def test_send_now_needs_login(client, mailing_for):
    mailing = mailing_for("ann@example.com")
    assert client.post(f"/mailings/{mailing.id}/send-now").status_code in (302, 401)
    assert db.session.scalars(db.select(Run)).all() == []


def test_send_now_of_a_disabled_mailing_explains_and_sends_nothing(login, user, mailing_for):
    mailing = mailing_for("ann@example.com", is_active=False)
    client = login(user)
    response = client.post(f"/mailings/{mailing.id}/send-now", follow_redirects=True)
    assert "cannot send" in response.get_data(as_text=True)
    assert db.session.scalars(db.select(Run)).all() == []


def test_send_now_button_is_a_csrf_protected_post(app, login, user, mailing_for, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    mailing = mailing_for("ann@example.com")
    client = login(user)
    assert client.post(f"/mailings/{mailing.id}/send-now").status_code == 400
    assert client.get(f"/mailings/{mailing.id}/send-now").status_code == 405
    assert factories  # the factories module stays the one source of rows


def test_a_reply_that_ends_a_sentence_gets_no_second_full_stop_in_the_progress(
    login, user, via_sink, mailing_for, run_jobs
):
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.3.0 Try again later."]
    mailing = mailing_for("ann@example.com")
    browser = login(user)
    browser.post(f"/mailings/{mailing.id}/send-now")
    run_jobs()

    retry = browser.get(f"/mailings/{mailing.id}/progress").get_json()["retry"]
    assert retry["reply_text"] == "451 4.3.0 Try again later"
    page = browser.get(f"/mailings/{mailing.id}").text
    assert "did not go through: 451 4.3.0 Try again later. Mailer tries again" in page


def test_the_progress_says_when_the_mail_server_cannot_be_reached_and_when_it_tries_again(
    login, user, send_via, smtp_sink, mailing_for, run_jobs
):
    send_via(free_port())  # nothing listens there
    mailing = mailing_for("ann@example.com", "bob@example.com")
    browser = login(user)
    browser.post(f"/mailings/{mailing.id}/send-now")
    run_jobs()

    retry = browser.get(f"/mailings/{mailing.id}/progress").get_json()["retry"]
    next_try_at = db.session.scalars(db.select(Delivery.next_try_at)).first()
    assert retry["reply_text"] == "connection refused"
    assert retry["next_try_at_text"] == f"{next_try_at:%Y-%m-%d %H:%M}"
    page = browser.get(f"/mailings/{mailing.id}").text
    assert (
        f"The last try, at {retry['failed_at_text']}, did not go through: connection refused."
        f" Mailer tries again by itself, next at {retry['next_try_at_text']}; if this goes on,"
        " the mail server or mailer's mail settings need a look."
    ) in page
    browser.post("/auth/language", data={"locale": "ru"})
    said = browser.get(f"/mailings/{mailing.id}/progress").get_json()["retry"]["reply_text"]
    assert said == "соединение отклонено"

    send_via(smtp_sink.port)
    dispatch.dispatch_due()  # the minute's tick puts the retry back on the queue
    run_jobs()
    assert smtp_sink.to_counts() == {"ann@example.com": 1, "bob@example.com": 1}
    assert browser.get(f"/mailings/{mailing.id}/progress").get_json()["retry"] is None


def test_a_passing_refusal_is_shown_with_the_servers_code(
    login, user, via_sink, mailing_for, run_jobs
):
    via_sink.rcpt_replies["ann@example.com"] = ["451 4.7.1 Try again later"]
    mailing = mailing_for("ann@example.com")
    browser = login(user)
    browser.post(f"/mailings/{mailing.id}/send-now")
    run_jobs()

    retry = browser.get(f"/mailings/{mailing.id}/progress").get_json()["retry"]

    assert retry["reply_text"] == "451 4.7.1 Try again later"


def test_a_permanent_refusal_is_no_passing_failure(login, user, via_sink, mailing_for, run_jobs):
    via_sink.rcpt_replies["ann@example.com"] = ["550 5.1.1 No such user"]
    mailing = mailing_for("ann@example.com")
    browser = login(user)
    browser.post(f"/mailings/{mailing.id}/send-now")
    run_jobs()
    progress = browser.get(f"/mailings/{mailing.id}/progress").get_json()
    assert (progress["failed"], progress["retry"]) == (1, None)
    assert "did not go through" not in browser.get(f"/mailings/{mailing.id}").text


def _run_of(mailing, *, began_ago: timedelta) -> Run:
    """A send of `mailing` that began `began_ago`, none of it taken up by a worker."""
    run = db.session.get(Run, dispatch.start_forced_run(mailing.id))
    run.created_at = utcnow() - began_ago
    db.session.commit()
    return run


def test_a_send_nothing_of_which_went_out_for_minutes_says_since_when_and_what_to_check(
    login, user, mailing_for
):
    """A worker killed mid-send, or none running: the page said "Sending…" for as long as
    it lasted. Now it says since when nothing went out, why a send may wait, and what to
    check."""
    run = _run_of(mailing_for("ann@example.com"), began_ago=timedelta(minutes=5))
    browser = login(user)

    progress = browser.get(f"/mailings/{run.mailing_id}/progress").get_json()
    page = browser.get(f"/mailings/{run.mailing_id}").text

    assert progress["quiet_since_text"] == f"{run.created_at:%Y-%m-%d %H:%M}"
    assert (
        f"Nothing of this send has gone out since {progress['quiet_since_text']}. It goes on"
        " by itself: it may be waiting for sends that began before it, and what a worker that"
        " stopped was sending is taken up again within 10 minutes. If it stays so longer,"
        " check that mailer's worker is running."
    ) in page
    assert "Sending…" not in page.split('id="send-progress"')[1].split("</section>")[0]
    browser.post("/auth/language", data={"locale": "ru"})
    assert "Из этой рассылки ничего не уходит с " in browser.get(f"/mailings/{run.mailing_id}").text


def test_a_send_that_tried_an_email_lately_is_not_said_to_be_quiet(login, user, mailing_for):
    run = _run_of(mailing_for("ann@example.com", "bob@example.com"), began_ago=timedelta(hours=1))
    [delivery, _] = db.session.scalars(db.select(Delivery).order_by(Delivery.id))
    factories.make_attempt(
        run, delivery.client, delivery_id=delivery.id, attempted_at=utcnow() - timedelta(seconds=30)
    )
    browser = login(user)

    assert browser.get(f"/mailings/{run.mailing_id}/progress").get_json()["quiet_since"] is None
    assert "Sending…" in browser.get(f"/mailings/{run.mailing_id}").text


def test_a_send_that_just_began_is_not_said_to_be_quiet(login, user, mailing_for):
    run = _run_of(mailing_for("ann@example.com"), began_ago=timedelta(seconds=5))

    progress = login(user).get(f"/mailings/{run.mailing_id}/progress").get_json()

    assert (progress["finished_at"], progress["quiet_since"]) == (None, None)
