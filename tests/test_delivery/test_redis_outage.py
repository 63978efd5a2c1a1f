"""A Redis outage while a worker sends: the worker, and the batch, wait it out.

A throwaway redis-server on loopback stands in for the one that goes away (the
shared one of the other tests must stay up).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from mailer.delivery import dispatch, jobs, ratelimit, sender, worker
from mailer.delivery.ratelimit import RateLimiter
from tests.test_delivery.conftest import add_clients, statuses
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class SpareRedis:
    """A redis-server of the test's own, to stop and start again (empty, as a restart
    without persistence leaves it)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        self.server = subprocess.Popen(  # noqa: S603 - a throwaway Redis on loopback
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
            self.server = None

    def restart_in(self, seconds: float) -> None:
        """Stop it now, and start it again `seconds` later, meanwhile."""
        self.stop()
        threading.Timer(seconds, self.start).start()

    def connection(self) -> Redis:
        """Without redis-py's own retries, which would hide an outage this short (a real
        one outlasts them)."""
        return Redis(port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def spare_redis():
    redis = SpareRedis()
    redis.start()
    yield redis
    time.sleep(1.5)  # a restart still on its way
    redis.stop()


_SPARE: SpareRedis | None = None


def goes_away_while_it_runs() -> str:
    """A job during which Redis stops (and comes back a second later): its work is done,
    then RQ cannot write its result."""
    _SPARE.restart_in(1.0)
    return "sent"


def test_a_worker_whose_job_ended_while_redis_was_away_goes_on_once_it_is_back(
    spare_redis, monkeypatch, caplog
):
    """RQ's own loop quit on it ("found an unhandled exception"), and under honcho every
    process stopped with the worker."""
    global _SPARE
    _SPARE = spare_redis
    monkeypatch.setattr(worker, "RETRY_SECONDS", 0.1)
    connection = spare_redis.connection()
    queue = Queue("outage-test", connection=connection)
    queue.enqueue(goes_away_while_it_runs)
    caplog.set_level(logging.WARNING)

    worked = worker.MailerWorker([queue], connection=connection).work(burst=True)

    assert worked is True  # the job counted as done; the loop went on to ask for more
    assert "found an unhandled exception" not in caplog.text
    assert "ended while Redis was unreachable" in caplog.text
    assert connection.ping()


def test_a_batch_waits_for_the_rate_limits_redis_and_goes_on(app, spare_redis, monkeypatch, caplog):
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.1)
    limiter = RateLimiter(per_second=100, per_day=0, redis=spare_redis.connection())
    limiter.acquire()
    waited = []
    caplog.set_level(logging.WARNING, logger="mailer.delivery.ratelimit")
    spare_redis.restart_in(1.0)

    limiter.acquire(before_waiting=lambda: waited.append(True))  # the next second's budget

    assert waited == [True]  # the sender let go of the database meanwhile
    assert caplog.text.count("rate limit: Redis unreachable") == 1  # said once, not per try


@pytest.fixture
def hand_back():
    """What the worker does when asked to stop (worker.MailerWorker), undone afterwards."""
    yield sender.HAND_BACK.set
    sender.HAND_BACK.clear()


def test_a_worker_asked_to_stop_while_the_rate_limits_redis_is_away_leaves_its_batch_waiting(
    app, via_sink, mailing_for, sending_config, user, spare_redis, hand_back, monkeypatch, caplog
):
    """A deploy during a Redis outage: the batch waiting for its budget stops at once and
    leaves its emails to the next worker, instead of holding the stop until Redis is back
    (or until the worker is killed)."""
    sending_config(SEND_RATE_PER_SECOND=100, SEND_BATCH_SIZE=5)
    mailing = mailing_for()
    add_clients(user, mailing, 5)
    run_id = dispatch.start_forced_run(mailing.id)
    (batch,) = dispatch.run_batches(run_id)
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{spare_redis.port}/0")
    monkeypatch.delitem(app.extensions, "mailer_redis", raising=False)
    spare_redis.stop()  # for good: nothing in this test brings it back
    caplog.set_level(logging.INFO)

    def worker_on_the_batch():
        with app.app_context():
            jobs.send_batch_job(run_id, batch)

    batch_worker = threading.Thread(target=worker_on_the_batch, daemon=True)
    batch_worker.start()
    assert wait_for(lambda: "rate limit: Redis unreachable" in caplog.text)
    hand_back()
    batch_worker.join(timeout=30)

    assert not batch_worker.is_alive()
    assert via_sink.to_counts() == {}
    assert statuses(run_id) == {"pending": 5}  # none left claimed: the sweep takes them all
    assert f"run {run_id}: 5 left waiting, not handed back (Redis unreachable" in caplog.text
