"""ATTEMPT_RETENTION_DAYS: the attempt log's old rows go; the reports keep counting them."""

from __future__ import annotations

from datetime import timedelta

from mailer.delivery import jobs, retention, scheduler
from mailer.extensions import db
from mailer.models import Attempt, utcnow
from tests import factories
from tests.test_mailings.test_report import figures


def _logged() -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(db.select(Attempt.recipient)))


def test_attempts_older_than_the_retention_go_a_chunk_at_a_time_and_reports_still_count_them(
    app, login, user, monkeypatch
):
    monkeypatch.setitem(app.config, "ATTEMPT_RETENTION_DAYS", 30)
    mailing = factories.make_mailing(user, name="Spring")
    now = utcnow()
    run = factories.make_run(mailing, scheduled_for=now - timedelta(days=40))
    for number in range(5):
        client = factories.make_client(user, f"old-{number}@example.com")
        factories.make_delivery(run, client)
        factories.make_attempt(run, client, attempted_at=now - timedelta(days=31 + number))
    fresh = factories.make_client(user, "fresh@example.com")
    factories.make_delivery(run, fresh)
    factories.make_attempt(run, fresh, attempted_at=now - timedelta(days=29))

    assert retention.prune_attempts(now=now, days=30, chunk=2) == 5  # chunks of 2, 2 and 1
    assert _logged() == ["fresh@example.com"]
    browser = login(user)
    log_page = browser.get("/attempts/").text
    assert "The log keeps the last 30 days" in log_page
    row = figures(browser.get("/reports/").text, mailing.id)  # from the run's tallies
    assert (row["Sent"], row["Attempts"]) == ("6", "6")


def test_the_job_runs_only_when_a_retention_is_set(app, user, monkeypatch):
    run = factories.make_run(factories.make_mailing(user))
    client = factories.make_client(user, "ann@example.com")
    factories.make_attempt(run, client, attempted_at=utcnow() - timedelta(days=400))
    names = [job.func for job in scheduler.periodic_jobs(app)]
    assert "mailer.delivery.jobs.prune_attempts_job" not in names  # the default keeps all
    assert _logged() == ["ann@example.com"]

    monkeypatch.setitem(app.config, "ATTEMPT_RETENTION_DAYS", 365)
    assert ("mailer.delivery.jobs.prune_attempts_job", scheduler.PRUNE_INTERVAL_SECONDS) in {
        (job.func, job.interval_seconds) for job in scheduler.periodic_jobs(app)
    }
    assert jobs.prune_attempts_job() == 1
    assert _logged() == []


def test_a_worker_without_the_retention_keeps_the_whole_log_whoever_queued_the_job(
    app, user, monkeypatch, caplog
):
    """A scheduler with ATTEMPT_RETENTION_DAYS queued the job; the worker that ran it had
    none (0): the cut-off was "now", and the whole log went."""
    run = factories.make_run(factories.make_mailing(user))
    client = factories.make_client(user, "ann@example.com")
    factories.make_attempt(run, client, attempted_at=utcnow() - timedelta(days=400))
    factories.make_attempt(run, client, attempted_at=utcnow() - timedelta(minutes=1))
    monkeypatch.setitem(app.config, "ATTEMPT_RETENTION_DAYS", 0)

    assert jobs.prune_attempts_job() == 0
    assert retention.prune_attempts(now=utcnow(), days=0) == 0

    assert len(_logged()) == 2
    assert "ATTEMPT_RETENTION_DAYS is not set on this worker" in caplog.text
