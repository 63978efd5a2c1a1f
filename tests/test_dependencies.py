"""The pinned pairs work together: rq-scheduler with rq, Flask-Principal with Flask 3.1."""

from datetime import UTC, datetime, timedelta

from flask import Blueprint
from rq import Queue, SimpleWorker
from rq_scheduler import Scheduler

from mailer import create_app
from mailer.permissions import blog_permission, manager_permission
from tests import factories


def test_rq_scheduler_enqueues_a_periodic_job_that_an_rq_worker_runs(redis_conn):
    scheduler = Scheduler(queue_name="pairing", connection=redis_conn)
    scheduler.schedule(
        scheduled_time=datetime.now(UTC) - timedelta(seconds=1),
        func="operator.add",
        args=[2, 3],
        interval=60,
        repeat=None,
        id="pairing-check",
        result_ttl=120,
    )
    scheduler.enqueue_jobs()
    queue = Queue("pairing", connection=redis_conn)
    assert queue.job_ids == ["pairing-check"]
    SimpleWorker([queue], connection=redis_conn).work(burst=True)
    assert queue.fetch_job("pairing-check").return_value() == 5
    # Still scheduled for the next minute: the job repeats.
    [(job, next_time)] = scheduler.get_jobs(with_times=True)
    assert job.id == "pairing-check"
    assert next_time > datetime.now(UTC).replace(tzinfo=None)


def test_flask_principal_gives_roles_from_the_flask_login_user(test_environ, manager, user):
    app = create_app(overrides={"TESTING": True}, environ=test_environ)
    probe = Blueprint("probe", __name__)

    @probe.route("/probe")
    def what_can_i_do():
        return {"manager": manager_permission.can(), "blog": blog_permission.can()}

    app.register_blueprint(probe)
    client = app.test_client()
    for person, expected in ((manager, True), (user, False)):
        with client.session_transaction() as session:
            session["_user_id"] = factories.login_key(person)
        assert client.get("/probe").get_json() == {"manager": expected, "blog": False}
