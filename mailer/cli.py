"""`flask ...` commands: running mailer locally, demo data, and the operators' commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from mailer import demo
from mailer.extensions import db


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the demo data (users of each role, clients, messages, mailings, articles)."""
    logins = demo.seed_demo()
    db.session.commit()
    _print_logins(logins)


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def up_command(host: str, port: int) -> None:
    """Migrate, load the demo data once, and serve mailer with its scheduler (`make run`)."""
    app = current_app._get_current_object()
    _stop_on_signals()
    upgrade()
    if not demo.has_data():
        demo.seed_demo()
        db.session.commit()
        click.echo("Loaded the demo data.")
    children = _start_background(app)
    click.echo(f"\n  mailer is running on http://{host}:{port}/  (Ctrl-C stops everything)\n")
    _print_logins(demo.demo_logins())
    _describe_mode(app)
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the server and everything it started.

    A shell starts background jobs with SIGINT ignored; restore it so Ctrl-C
    (or `kill -INT`) always reaches us.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _start_background(app: Flask) -> list[subprocess.Popen]:
    """The RQ worker and rq-scheduler as child processes, or the embedded scheduler thread."""
    from mailer.delivery import scheduler

    if app.config["REDIS_URL"]:
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        env = dict(os.environ)
        return [
            subprocess.Popen([*flask, "worker"], env=env),  # noqa: S603 - our own command
            subprocess.Popen([*flask, "start-scheduler"], env=env),  # noqa: S603
        ]
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run_embedded, args=(app, stop), name="scheduler", daemon=True
    )
    thread.start()
    return []


def _describe_mode(app: Flask) -> None:
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    queue = "Redis (RQ worker + rq-scheduler)" if app.config["REDIS_URL"] else "in-process"
    mail = app.config["MAIL_SERVER"] or f"files in {app.config['MAIL_OUTBOX']}"
    click.echo(f"  database: {database}   jobs: {queue}   mail: {mail}\n")


def _print_logins(logins: list[demo.DemoLogin]) -> None:
    click.echo("  Demo logins:")
    for login in logins:
        click.echo(f"    {login.role:<16} {login.email:<24} password: {login.password}")


def init_app(app: Flask) -> None:
    for command in (seed_demo_command, up_command):
        app.cli.add_command(command)
