"""A confirmed import runs as a background job: its page waits, shows the rows read, then
the report; a job run twice imports once; a lost worker's import can be imported again."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from mailer.extensions import db
from mailer.mailings.client_import import background
from mailer.models import Client, ClientImport, utcnow
from tests import factories
from tests.queued import run_queued_jobs
from tests.test_delivery.test_dispatch import _flask, _process_env
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CSV = b"email\nanna@example.com\nboris@example.com\nanna@example.com\n"


@pytest.fixture(autouse=True)
def _queue(fresh_queue):
    """With Redis, the import's job waits on an empty queue of its own."""


def _emails(owner) -> list[str]:
    db.session.expire_all()
    return sorted(client.email for client in Client.owned_by(owner))


def _queued(owner, data: bytes = CSV, **fields) -> ClientImport:
    fields = {"status": "queued", "queued_at": utcnow(), "rows_expected": 3, **fields}
    return factories.make_client_import(owner, data, **fields)


def test_a_queued_import_waits_for_a_worker_and_its_page_says_so(login, user):
    task = _queued(user)
    browser = login(user)

    page = browser.get(f"/clients/imports/{task.id}").text
    assert "Waiting for a worker to start it…" in page
    assert "You may leave this page" in page
    checked = browser.get(f"/clients/imports/{task.id}/progress").json
    assert checked.items() >= {"status": "queued", "lost": False, "unstarted": False}.items()
    assert "Hand it to a worker again" not in page
    assert _emails(user) == []


def test_a_running_import_shows_the_rows_its_heartbeat_says_it_has_read(
    app, login, user, monkeypatch
):
    monkeypatch.setattr(background, "HEARTBEAT_SECONDS", 0.05)
    task = _queued(user, status="running", rows_expected=1000, started_at=utcnow(), tries=1)
    browser = login(user)

    with background.Heartbeat(task.id) as heartbeat:  # as the worker's import beats
        heartbeat.rows = 400
        assert wait_for(lambda: browser.get(f"/clients/imports/{task.id}/progress").json["rows"])
        page = browser.get(f"/clients/imports/{task.id}").text
        checked = browser.get(f"/clients/imports/{task.id}/progress").json
    heartbeat.forget()  # as the worker does once its import ended

    assert "Importing: 400 of 1,000 rows read…" in page  # the numbers as the viewer writes them
    assert 'aria-valuenow="400"' in page
    assert checked == {
        "status": "running",
        "rows": 400,
        "total": 1000,
        "rows_text": "400",
        "total_text": "1,000",
        "lost": False,
        "unstarted": False,
    }
    assert "Import it again" not in page


def test_an_import_whose_worker_was_lost_is_said_so_and_imports_when_asked_again(app, login, user):
    started = utcnow() - timedelta(seconds=background.SILENT_SECONDS + 5)
    task = _queued(user, status="running", started_at=started, tries=1)  # no heartbeat since
    browser = login(user)

    page = browser.get(f"/clients/imports/{task.id}").text
    assert "This import stopped before it ended" in page
    assert "Nothing was imported." in page
    assert browser.get(f"/clients/imports/{task.id}/progress").json["lost"] is True

    again = browser.post(f"/clients/imports/{task.id}/again")
    run_queued_jobs(app)
    report = browser.get(again.location).text

    assert "Imported 2 clients." in report
    assert "duplicate in file (first on line 2)" in report
    assert _emails(user) == ["anna@example.com", "boris@example.com"]


def test_an_import_no_worker_started_for_minutes_may_be_handed_to_one_again(app, login, user):
    waited = utcnow() - timedelta(seconds=background.UNSTARTED_SECONDS + 5)
    task = _queued(user, queued_at=waited)  # its job lost, as with Redis's data
    browser = login(user)

    page = browser.get(f"/clients/imports/{task.id}").text
    assert "No worker has started this import for five minutes" in page
    assert "Waiting for a worker to start it…" in page  # a worker may still come

    again = browser.post(f"/clients/imports/{task.id}/again")
    run_queued_jobs(app)

    assert "Imported 2 clients." in browser.get(again.location).text
    assert _emails(user) == ["anna@example.com", "boris@example.com"]


def test_a_queued_import_is_cancelled_and_its_job_then_imports_nothing(login, user):
    task = _queued(user)
    browser = login(user)
    assert "Cancel this import" in browser.get(f"/clients/imports/{task.id}").text

    cancelled = browser.post(f"/clients/imports/{task.id}/cancel", follow_redirects=True)
    background.run(task.id)  # its job, run by a worker after all

    assert "Import cancelled; nothing was imported." in cancelled.text
    assert browser.get(f"/clients/imports/{task.id}").status_code == 404
    assert _emails(user) == []


def test_an_import_whose_worker_was_lost_may_be_cancelled_instead(login, user):
    started = utcnow() - timedelta(seconds=background.SILENT_SECONDS + 5)
    task = _queued(user, filename="lost.csv", status="running", started_at=started, tries=1)
    browser = login(user)
    assert "Cancel this import" in browser.get(f"/clients/imports/{task.id}").text
    assert "lost.csv" in browser.get("/clients/").text  # stopped before it ended

    browser.post(f"/clients/imports/{task.id}/cancel")

    assert browser.get(f"/clients/imports/{task.id}").status_code == 404
    assert "lost.csv" not in browser.get("/clients/").text
    assert "lost.csv" not in browser.get("/clients/import").text
    assert _emails(user) == []


def _many(count: int) -> bytes:
    """A file of `count` clients: some seconds of work, so a cancel comes in the middle."""
    return "\n".join(["email", *(f"c{number}@example.com" for number in range(count))]).encode()


class _Worker(threading.Thread):
    """Runs an import's job as a worker would, in a session of its own; `error`: what it
    raised, if anything."""

    def __init__(self, app, import_id: int) -> None:
        super().__init__()
        self.app, self.import_id, self.error = app, import_id, None

    def run(self) -> None:
        with self.app.app_context():
            try:
                background.run(self.import_id)
            except BaseException as error:  # the test says what it was
                self.error = error


def _cancelled_mid_import(app, browser, task: ClientImport, answered: threading.Event):
    """Press Cancel on the import's page once a worker (a thread here) has read some of its
    rows, then set `answered`; the page's answer, once that worker has ended."""
    worker = _Worker(app, task.id)
    worker.start()
    try:
        assert wait_for(lambda: (background.last_beat(task.id) or (0,))[0] > 0, timeout=60)
        assert "Cancel this import" in browser.get(f"/clients/imports/{task.id}").text
        answer = browser.post(f"/clients/imports/{task.id}/cancel", follow_redirects=True)
        answered.set()
    finally:
        worker.join(120)
    assert worker.error is None
    return answer


@pytest.mark.parametrize(
    ("heard_late", "said"),
    [
        (False, "Import cancelled; nothing was imported."),
        (True, "The import is being cancelled; nothing of it will be kept."),
    ],
    ids=["heard while the page waits", "heard after the page gave up"],
)
def test_a_running_import_stops_when_cancelled_and_imports_nothing(
    app, login, user, monkeypatch, heard_late, said
):
    monkeypatch.setattr(background, "HEARTBEAT_SECONDS", 0.05)
    answered = threading.Event()
    if heard_late:  # the worker's beats miss the stop until the page has given up waiting
        monkeypatch.setattr(background, "STOP_WAIT_SECONDS", 0.2)
        hears = background.Heartbeat._asked_to_stop
        monkeypatch.setattr(
            background.Heartbeat,
            "_asked_to_stop",
            lambda heartbeat: hears(heartbeat) if answered.is_set() else None,
        )
    task = _queued(user, data=_many(300_000), rows_expected=300_000)
    browser = login(user)

    cancelled = _cancelled_mid_import(app, browser, task, answered)

    assert said in cancelled.text
    assert browser.get(f"/clients/imports/{task.id}").status_code == 404
    assert _emails(user) == []


def test_cancelling_an_import_that_ends_first_shows_its_report(app, login, user, monkeypatch):
    task = _queued(user, status="running", started_at=utcnow(), tries=1)
    browser = login(user)
    engine = db.engine
    asked, ask = threading.Event(), background._ask_to_stop
    monkeypatch.setattr(background, "_ask_to_stop", lambda *run: (ask(*run), asked.set()))

    def ends_meanwhile():  # as the import's last write, before its heartbeat heard the stop
        assert asked.wait(30)
        with engine.begin() as connection:
            connection.execute(
                db.update(ClientImport)
                .where(ClientImport.id == task.id)
                .values(status="done", imported=3, finished_at=utcnow())
            )

    ending = threading.Thread(target=ends_meanwhile)
    ending.start()
    refused = browser.post(f"/clients/imports/{task.id}/cancel", follow_redirects=True)
    ending.join()

    assert "The import ended before it could be cancelled: here is its report." in refused.text
    assert "Imported 3 clients." in refused.text


def test_an_import_heard_from_lately_is_not_imported_again(app, login, user):
    task = _queued(user, status="running", started_at=utcnow(), tries=1)
    browser = login(user)

    assert "Import it again" not in browser.get(f"/clients/imports/{task.id}").text
    browser.post(f"/clients/imports/{task.id}/again")  # an old page's button
    run_queued_jobs(app)

    db.session.expire_all()
    assert db.session.get(ClientImport, task.id).status == "running"
    assert _emails(user) == []


def test_an_import_job_run_twice_imports_once(app, user):
    task = _queued(user)

    background.run(task.id)
    background.run(task.id)  # RQ does not deduplicate: the claim does

    db.session.expire_all()
    done = db.session.get(ClientImport, task.id)
    assert (done.status, done.tries, done.imported, done.rejected_count) == ("done", 1, 2, 1)
    assert done.data is None  # the file is not kept past its import
    assert _emails(user) == ["anna@example.com", "boris@example.com"]


def test_a_file_that_cannot_be_read_at_the_import_fails_it_with_the_reason(
    app, login, user, caplog
):
    broken = b"PK\x03\x04" + b"\x00" * 64  # a zip that is no workbook
    task = factories.make_client_import(user, broken, status="queued", filename="book.xlsx")
    caplog.set_level("INFO")

    background.run(task.id)

    page = login(user).get(f"/clients/imports/{task.id}").text
    assert "The import failed, and nothing was imported." in page
    assert "This workbook cannot be read (it is damaged, or it is not a workbook)." in page
    assert "workbook not read: " in caplog.text  # the reader's own words, for whoever runs it
    assert "failed" in login(user).get("/clients/import").text  # the list of latest imports


def test_the_report_is_written_in_the_language_the_owner_imported_in(app, login):
    owner = factories.make_user("olga@example.com", locale="ru")
    browser = login(owner)
    upload = browser.post(
        "/clients/import",
        data={"file": (io.BytesIO(CSV), "clients.csv")},
        content_type="multipart/form-data",
    )
    confirm = re.search(r'action="(/clients/imports/\d+/confirm)"', upload.text)[1]
    started = browser.post(confirm)
    run_queued_jobs(app)

    report = browser.get(started.location).text
    assert "повтор в файле (впервые в строке 2)" in report


def test_an_owner_sees_their_latest_imports_newest_first_and_not_their_pending_uploads(
    login, user, other_user
):
    factories.make_client_import(user, filename="waiting.csv")  # pending: not an import yet
    old = _queued(user, filename="old.csv", status="done", imported=7)
    old.created_at = utcnow() - timedelta(days=1)
    _queued(user, filename="new.csv")
    _queued(other_user, filename="theirs.csv")
    db.session.commit()

    listed = login(user).get("/clients/import").text

    assert listed.index(">new.csv<") < listed.index(">old.csv<")
    assert "7 clients imported" in listed
    assert "waiting for a worker" in listed  # new.csv
    assert "waiting.csv" not in listed
    assert "theirs.csv" not in listed


def test_the_reports_kept_beyond_the_latest_are_listed_folded_below_them(login, user):
    for number in range(1, 8):  # oldest first
        task = _queued(user, filename=f"list-{number}.csv", status="done", imported=number)
        task.created_at = utcnow() - timedelta(hours=10 - number)
    db.session.commit()

    listed = login(user).get("/clients/import").text
    latest, older = listed.split('<details id="older-imports">')

    assert [f"list-{number}.csv" in latest for number in range(1, 8)] == [False] * 2 + [True] * 5
    assert "2 older imports" in older
    assert "list-1.csv" in older
    assert "list-2.csv" in older


def test_the_latest_imports_say_which_stopped_before_they_ended(login, user):
    started = utcnow() - timedelta(seconds=background.SILENT_SECONDS + 5)
    _queued(user, filename="lost.csv", status="running", started_at=started, tries=1)

    listed = login(user).get("/clients/import").text

    assert "stopped before it ended" in listed
    assert "in progress" not in listed


def test_the_client_list_tells_of_the_imports_under_way_and_links_to_them(
    login, user, other_user, monkeypatch
):
    monkeypatch.setattr(background, "HEARTBEAT_SECONDS", 0.05)
    started, silent = utcnow(), utcnow() - timedelta(seconds=background.SILENT_SECONDS + 5)
    waiting = _queued(user, filename="waiting.csv")
    running = _queued(
        user, filename="big.csv", status="running", rows_expected=3000, started_at=started, tries=1
    )
    lost = _queued(user, filename="lost.csv", status="running", started_at=silent, tries=1)
    _queued(user, filename="done.csv", status="done", imported=3)
    _queued(other_user, filename="theirs.csv")
    browser = login(user)

    with background.Heartbeat(running.id) as heartbeat:  # as the worker's import beats
        heartbeat.rows = 1500
        assert wait_for(lambda: "1,500 of 3,000" in browser.get("/clients/").text)
        page = browser.get("/clients/").text
    heartbeat.forget()

    assert "“waiting.csv” is waiting for a worker to import it." in page
    assert "“big.csv” is being imported: 1,500 of 3,000 rows read." in page
    assert "The import of “lost.csv” stopped before it ended: nothing was imported." in page
    for task in (waiting, running, lost):
        assert f'href="/clients/imports/{task.id}"' in page
    assert "done.csv" not in page
    assert "theirs.csv" not in page


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_an_import_killed_mid_way_imports_nothing_then_everything_once_when_asked_again(
    app, test_environ, redis_conn, login, user, monkeypatch
):
    count = 200_000  # some seconds of work: the kill comes in the middle of it
    data = "\n".join(["email", *(f"c{number}@example.com" for number in range(count))]).encode()
    task = _queued(user, data=data, rows_expected=count)
    background.start(task)
    env = _process_env(test_environ, 25)
    worker = subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=ROOT)
    try:
        # The import's process, the worker's child, has read rows: kill it there.
        assert wait_for(lambda: (background.last_beat(task.id) or (0,))[0] > 0, timeout=60)
        [importing] = _children(worker.pid)
        os.kill(importing, signal.SIGKILL)
        assert worker.wait(60) == 0  # the worker itself goes on (here: ends, its queue empty)
    finally:
        worker.kill()
    assert _emails(user) == []  # one transaction: nothing of it was kept

    monkeypatch.setattr(background, "SILENT_SECONDS", 0)  # not a minute: at once
    browser = login(user)
    assert "This import stopped before it ended" in browser.get(f"/clients/imports/{task.id}").text
    again = browser.post(f"/clients/imports/{task.id}/again")
    restarted = subprocess.Popen(_flask("worker", "--burst"), env=env, cwd=ROOT)
    assert restarted.wait(120) == 0

    assert f"Imported {count:,} clients." in browser.get(again.location).text
    assert Client.owned_by(user).count() == count


def test_on_sqlite_the_import_page_reads_while_an_import_writes(login, user):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own locking: PostgreSQL's readers never wait for writers")
    task = _queued(user, status="running", started_at=utcnow(), tries=1)
    browser = login(user)
    writer = db.engine.raw_connection()  # the import's transaction, on its own connection
    try:
        writer.execute("PRAGMA cache_size = 1")  # its changes outgrow the cache at once
        writer.execute("BEGIN")
        writer.executemany(
            "INSERT INTO clients (owner_id, email, full_name, comment, hard_bounces, created_at)"
            " VALUES (?, ?, '', '', 0, '2026-12-07 00:00:00')",
            [(user.id, f"c{number}@example.com") for number in range(5000)],
        )

        checked = browser.get(f"/clients/imports/{task.id}/progress")
    finally:
        writer.rollback()
        writer.close()

    assert checked.status_code == 200
    assert checked.json["status"] == "running"
