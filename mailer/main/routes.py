from flask import render_template

from mailer.main import bp
from mailer.main.health import run_checks


@bp.route("/")
def index():
    return render_template("main/index.html")


@bp.route("/healthz")
def healthz():
    states, healthy = run_checks()
    return {"status": "ok" if healthy else "unavailable", **states}, 200 if healthy else 503
