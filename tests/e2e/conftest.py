"""End-to-end fixtures: the app on a live server, driven by Debian's chromium.

Playwright drives /usr/bin/chromium (`apt-get install chromium`); it never
downloads a browser. The live server runs a second app on the test database
with CSRF switched on, as in production. With REDIS_URL configured, jobs go
to the RQ queue, so a real RQ worker runs beside it (`tests/e2e/rq_worker.py`);
in the embedded default they run on the server's own background thread.
A failing test leaves a screenshot and the HTML of each of its pages in
test-artifacts/ for the CI log.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Queue, Worker
from werkzeug.serving import make_server

from mailer import create_app
from mailer.delivery.jobs import worker_queues
from mailer.extensions import cache
from mailer.redis_client import redis_connection
from tests.e2e.ui import Interface

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
# The flags this sandbox needs: no sandbox as root, and no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The browser's language for each interface language (its Accept-Language header).
BROWSER_LOCALES = {"en": "en-US", "ru": "ru-RU"}
WORKER_START_SECONDS = 30
# The RQ worker's output, copied next to a failing test's screenshots.
WORKER_LOGS: list[Path] = []


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def live_overrides(app) -> dict:
    """What the live server's app (and its RQ worker) change from the test environment.

    A queue of their own: another worker on the same Redis database (a benchmark,
    someone's `make run`) must not take the jobs of the test's "send now".
    """
    return {
        "SESSION_COOKIE_SECURE": False,
        "MAIL_OUTBOX": app.config["MAIL_OUTBOX"],
        "RQ_QUEUE": f"mailer-e2e-{secrets.token_hex(4)}",
    }


@pytest.fixture(scope="session")
def live_app(test_environ, live_overrides):
    """The app as a browser sees it: CSRF on, links in emails pointing at the live server."""
    return create_app(overrides=live_overrides, environ=test_environ)


@pytest.fixture(autouse=True)
def _live_cache_emptied(live_app):
    """Without Redis the live app's cache is its own (in-process), which the tables'
    emptying after each test does not reach: its cached home page would show the last
    test's articles and counts to the next."""
    yield
    with live_app.app_context():
        cache.clear()


@pytest.fixture(scope="session")
def live_server(live_app, test_environ, live_overrides, tmp_path_factory):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    live_app.config["BASE_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    worker = None
    if live_app.config["REDIS_URL"]:
        log = tmp_path_factory.mktemp("rq-worker") / "worker.log"
        WORKER_LOGS.append(log)
        overrides = {**live_overrides, "BASE_URL": base_url}
        worker = _start_worker(live_app, test_environ, overrides, log)
    yield base_url
    if worker is not None:
        _stop_worker(worker, live_app)
    server.shutdown()


def _start_worker(live_app, environ: dict, overrides: dict, log: Path) -> subprocess.Popen:
    """A real RQ worker on the test Redis and database; returns once it listens."""
    env = {**os.environ, "MAILER_E2E_APP": json.dumps({"environ": environ, "overrides": overrides})}
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "tests.e2e.rq_worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    with live_app.app_context():
        queue = Queue(live_app.config["RQ_QUEUE"], connection=redis_connection())
        deadline = time.monotonic() + WORKER_START_SECONDS
        while Worker.count(queue=queue) == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the RQ worker did not start:\n{log.read_text()}")
            time.sleep(0.1)  # polling for a condition, with a deadline
    return process


def _stop_worker(process: subprocess.Popen, live_app) -> None:
    process.send_signal(signal.SIGTERM)  # warm shutdown: finishes the job in hand
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with live_app.app_context():  # the session's queues go with it
        for queue in worker_queues(live_app, redis_connection()):
            queue.delete(delete_jobs=True)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live_server, request):
    """`open_page(lang="en")`: a page in a browser of its own (own cookies), in that language.

    Two people in one test (a manager and a user) each get their own. A failing
    test saves every page it opened.
    """
    contexts = []

    def open_one(lang: str = "en", **options):
        context = browser.new_context(base_url=live_server, locale=BROWSER_LOCALES[lang], **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_one
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_")
        pages = [page for context in contexts for page in context.pages]
        for number, page in enumerate(pages, start=1):
            stem = ARTIFACTS / (name if number == 1 else f"{name}-{number}")
            page.screenshot(path=f"{stem}.png", full_page=True)
            Path(f"{stem}.html").write_text(page.content())
            print(f"\nsaved {stem}.png and .html ({page.url})")
        for log in WORKER_LOGS:
            shutil.copyfile(log, ARTIFACTS / "rq-worker.log")
            print(f"\nsaved {ARTIFACTS / 'rq-worker.log'}")
    for context in contexts:
        context.close()


@pytest.fixture(params=["en", "ru"])
def ui(request, live_app) -> Interface:
    """The interface in English, then in Russian: each test using it runs once per language."""
    return Interface(live_app, request.param)


@pytest.fixture
def page(open_page):
    return open_page("en")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.report_call = report
