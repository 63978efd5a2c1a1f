"""`flask ...` commands: running mailer locally, demo data, and the operators' commands."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import text

from mailer import demo, outages
from mailer.extensions import db


@click.command("seed-demo")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def seed_demo_command(yes: bool) -> None:
    """Load the demo data (users of each role, clients, messages, mailings, articles)."""
    mail_server = current_app.config["MAIL_SERVER"]
    if not yes and (mail_server or not current_app.debug):
        # A server's database, or one whose mail goes out: its logins would have the
        # passwords the README publishes, a manager's among them.
        sent = " through MAIL_SERVER" if mail_server else ""
        click.confirm(
            "Load the demo data into this database? Its logins have the passwords the"
            " README publishes (a manager's among them), and two of its mailings go out at"
            f" the next tick{sent}: only on a database you will throw away",
            abort=True,
        )
    seeded = _load_demo_data()
    if not seeded:
        click.echo("The demo data is there already: nothing added.")
    elif seeded.mailings and current_app.config["MAIL_SERVER"]:
        click.echo(
            "Two of its mailings are due now: the scheduler sends them through MAIL_SERVER"
            " to the demo clients (example.com addresses) at its next tick."
        )
    _print_logins(demo.present_logins())


def _load_demo_data() -> demo.Seeded:
    """Load what of the demo data is missing, and say what was added."""
    seeded = demo.seed_demo()
    db.session.commit()
    if seeded:
        added = ", ".join(
            f"{count} {noun}{'' if count == 1 else 's'}"
            for count, noun in zip(seeded.counts(), ("user", "article", "mailing"), strict=True)
        )
        click.echo(f"Loaded the demo data: {added} added.")
    return seeded


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def up_command(host: str, port: int) -> None:
    """Migrate, load the demo data once (on the embedded default), and serve mailer with
    its scheduler (`make run`)."""
    app = current_app._get_current_object()
    _check_port_free(host, port)
    _links_lead_here(app, host, port)
    _stop_on_signals()
    upgrade()
    if not demo.has_data():
        if demo.loads_by_itself():
            _load_demo_data()
        else:
            click.echo(
                "The database is empty. Demo data is loaded by itself only in debug mode on"
                " the embedded default with no mail server (its logins have known passwords,"
                " and two of its mailings send at once); `flask --app wsgi seed-demo` loads it"
                " into a database you will throw away, and `flask --app wsgi csu` creates the"
                " superuser."
            )
    children = _start_background(app)
    stopping = _stop_when_one_ends(children)
    click.echo(f"\n  mailer is running on {_address(host, port)}/  (Ctrl-C stops everything)\n")
    if logins := demo.present_logins():
        _print_logins(logins)
    _describe_mode(app)
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        stopping.set()
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _check_port_free(host: str, port: int) -> None:
    """Stop before anything starts when the port is taken, saying how to choose another."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as error:
            # A name that resolves to nothing, or an address of another machine.
            if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
                raise click.ClickException(
                    f"{host} is no address of this machine: choose another host, such as"
                    " HOST=127.0.0.1 make run"
                ) from None
            raise click.ClickException(
                f"Port {port} on {host} cannot be used ({error.strerror}): another program"
                " may hold it. Stop it, or choose another port: PORT=5077 make run"
            ) from None


def _links_lead_here(app: Flask, host: str, port: int) -> None:
    """Without BASE_URL, links in emails (the worker's too: it reads the environment)
    lead to the address this server listens on."""
    if not app.config["BASE_URL_GIVEN"]:
        app.config["BASE_URL"] = os.environ["BASE_URL"] = _address(host, port)


def _address(host: str, port: int) -> str:
    """The URL a browser opens to reach the server on `host`:`port`."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - every interface: this machine's is one
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the server and everything it started.

    A shell starts background jobs with SIGINT ignored; restore it so Ctrl-C
    (or `kill -INT`) always reaches us.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Exit 1 when a worker or scheduler ended on its own: a script or CI must see it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1 if _A_CHILD_ENDED.is_set() else 0))


_A_CHILD_ENDED = threading.Event()  # set by `_stop_when_one_ends`


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


def _stop_when_one_ends(children: list[subprocess.Popen]) -> threading.Event:
    """A worker or scheduler that ends (a crash, a bad REDIS_URL, a kill) stops the server
    too, saying so: serving on without it, nothing would be sent, and nothing said why.
    Set the event returned before stopping them on purpose."""
    stopping = threading.Event()

    def watch() -> None:
        while not stopping.wait(1):
            for child in children:
                if (code := child.poll()) is not None:
                    click.echo(
                        f"mailer: `flask {child.args[-1]}` ended (exit {code}), so mailer"
                        " stops; its lines above say why",
                        err=True,
                    )
                    _A_CHILD_ENDED.set()
                    os.kill(os.getpid(), signal.SIGTERM)
                    return

    if children:
        threading.Thread(target=watch, name="children", daemon=True).start()
    return stopping


def _describe_mode(app: Flask) -> None:
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    queue = "Redis (RQ worker + rq-scheduler)" if app.config["REDIS_URL"] else "in-process"
    mail = app.config["MAIL_SERVER"] or f"files in {app.config['MAIL_OUTBOX']}"
    click.echo(f"  database: {database}   jobs: {queue}   mail: {mail}\n")


def _print_logins(logins: list[demo.DemoLogin]) -> None:
    click.echo("  Demo logins:")
    for login in logins:
        click.echo(f"    {login.role:<16} {login.email:<24} password: {login.password}")


@click.command("csu")
@click.option("--password", help="The superuser's password (asked for when not given).")
@with_appcontext
def csu_command(password: str | None) -> None:
    """Create the superuser admin@mailing.com, or set its password (the seed's `csu`)."""
    from mailer.auth import staff
    from mailer.auth.passwords import MAX_LENGTH, MIN_LENGTH, is_common
    from mailer.models import User

    if password is None and current_app.debug:
        # The seed's demo password, only in debug and only for a superuser not there yet:
        # a database that debug mode once pointed at keeps its own password.
        if User.by_email(staff.SUPERUSER_EMAIL) is not None:
            raise click.ClickException(
                f"The superuser {staff.SUPERUSER_EMAIL} exists already; give --password"
                " to set a new password."
            )
        password = demo.SUPERUSER_DEMO_PASSWORD
    else:
        if password is None:
            password = click.prompt(
                f"Password for {staff.SUPERUSER_EMAIL}", hide_input=True, confirmation_prompt=True
            )
        # As registration checks it, or the login form would refuse what was set here.
        if not password.strip():
            raise click.ClickException("The password cannot be spaces alone.")
        if len(password) < MIN_LENGTH:
            raise click.ClickException(f"The password must be at least {MIN_LENGTH} characters.")
        if len(password) > MAX_LENGTH:
            raise click.ClickException(f"The password must be at most {MAX_LENGTH} characters.")
        if is_common(password):  # as registration refuses it
            raise click.ClickException("That password is too common: choose another.")
    user, created = staff.ensure_superuser(password=password)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Updated'} the superuser {user.email}.")


@click.group("user")
def user_group() -> None:
    """Manage users' roles."""


def _user_or_fail(email: str):
    from mailer.models import User

    user = User.by_email(email)
    if user is None:
        raise click.ClickException(f"No user with the email {email!r}.")
    return user


def _change_role(change, email: str, role: str) -> bool:
    from mailer.auth import staff

    try:
        changed = change(user=_user_or_fail(email), role=role)
    except staff.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    return changed


@user_group.command("grant")
@click.argument("email")
@click.argument("role")
@with_appcontext
def grant_command(email: str, role: str) -> None:
    """Give EMAIL the ROLE (manager or content-manager)."""
    from mailer.auth import staff

    changed = _change_role(staff.grant_role, email, role)
    click.echo(f"{email} {'is now' if changed else 'already was'} a {role}.")


@user_group.command("revoke")
@click.argument("email")
@click.argument("role")
@with_appcontext
def revoke_command(email: str, role: str) -> None:
    """Take the ROLE (manager or content-manager) away from EMAIL."""
    from mailer.auth import staff

    changed = _change_role(staff.revoke_role, email, role)
    click.echo(f"{email} {'is no longer' if changed else 'was not'} a {role}.")


# -- sending (the seed's mailing_start, mailing_start_now, start_apscheduler) -------------


@click.command("mailing-start")
@with_appcontext
def mailing_start_command() -> None:
    """Dispatch once now: send what is due, as the scheduler would."""
    from mailer.delivery import dispatch, jobs

    # Without Redis the batches run here; the command returns when they are sent.
    with jobs.synchronously(current_app):
        runs = dispatch.dispatch_due()
    click.echo(f"Dispatched {runs} run(s).")


@click.command("mailing-start-now")
@click.option("--mailing", "mailing_id", type=int, help="Only this mailing (its id).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def mailing_start_now_command(mailing_id: int | None, yes: bool) -> None:
    """Send every active mailing now, ignoring its schedule (or only --mailing ID)."""
    from sqlalchemy import select

    from mailer.delivery import dispatch
    from mailer.models import Mailing, User

    if mailing_id is not None:
        _check_sendable(mailing_id)
    query = (
        select(Mailing)
        .join(Mailing.owner)
        .where(Mailing.is_active.is_(True), User.is_blocked.is_(False))
        .order_by(Mailing.id)
    )
    if mailing_id is not None:
        query = query.where(Mailing.id == mailing_id)
    mailings = list(db.session.scalars(query))
    if not mailings:
        raise click.ClickException("No mailing to send: none is active, or their owner is blocked.")
    # "Once" mailings that still go out at their start after this send, as the web page warns.
    again_at = {mailing.id: dispatch.sent_again_after_send_now(mailing) for mailing in mailings}
    if not yes:
        click.confirm(_send_now_question(mailings, again_at), abort=True)
    unqueued = started = 0
    # Read up front: each run's commit below expires the mailings loaded here.
    readiness = [(m.id, m.has_clients(), m.has_receiving_clients()) for m in mailings]
    for one_id, has_clients, has_receiving in readiness:
        if not has_clients:
            click.echo(f"Mailing {one_id}: not sent (it has no clients).")
            continue
        if not has_receiving:
            # As Send now says: a run would send nobody, and mark a new mailing started.
            click.echo(f"Mailing {one_id}: not sent (all its clients unsubscribed or bounced).")
            continue
        if again_at[one_id] is not None:
            click.echo(
                f"Mailing {one_id}: it goes out again at its start,"
                f" {again_at[one_id]:%Y-%m-%d %H:%M} UTC, unless you edit or disable it."
            )
        try:
            run_id = dispatch.start_forced_run(one_id)
        except dispatch.RunInProgress as busy:
            click.echo(f"Mailing {one_id}: not sent (its run {busy.run_id} has not finished).")
            continue
        if run_id is None:
            click.echo(f"Mailing {one_id}: not sent (disabled, or its owner is blocked).")
            continue
        started += 1
        if current_app.config["REDIS_URL"]:
            try:
                batches = dispatch.enqueue_run(run_id)
            except outages.REDIS_DOWN as error:
                unqueued += 1
                click.echo(
                    f"Mailing {one_id}: run {run_id} saved but not queued: cannot reach Redis"
                    f" ({outages.reason(error)})."
                )
                continue
            click.echo(f"Mailing {one_id}: run {run_id} queued in {batches} batch(es).")
        else:
            _send_in_process(one_id, run_id)
    if unqueued:
        raise click.ClickException(
            f"{unqueued} run(s) not queued; the scheduler queues them within a few"
            " minutes of Redis being back: do not start them again."
        )
    if not started:  # a script must see it: every mailing was skipped, said why above
        raise click.ClickException("Nothing was sent.")


def _send_now_question(mailings: list, again_at: dict) -> str:
    question = f"Send {len(mailings)} mailing(s) to all their clients now"
    notes = []
    if completed := sum(mailing.status == "completed" for mailing in mailings):
        notes.append(f"{completed} of them completed: their clients got them already")
    if again := sum(when is not None for when in again_at.values()):
        notes.append(f"{again} of them go out again at their start, unless you edit them")
    return f"{question} ({'; '.join(notes)})?" if notes else f"{question}?"


def _check_sendable(mailing_id: int) -> None:
    """--mailing ID: say why that mailing cannot be sent, if it cannot."""
    from mailer.models import Mailing

    mailing = db.session.get(Mailing, mailing_id)
    if mailing is None:
        raise click.ClickException(f"Mailing {mailing_id} does not exist.")
    if not mailing.is_active:
        raise click.ClickException(f"Mailing {mailing_id} is disabled: enable it first.")
    if mailing.owner.is_blocked:
        raise click.ClickException(f"Mailing {mailing_id}'s owner is blocked: it sends nothing.")


def _stop_after_the_email_in_flight(signum, frame) -> None:
    from mailer.delivery import sender

    sender.HAND_BACK.set()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    click.echo("\nStopping after the email in flight (Ctrl-C again stops at once)...", err=True)


def _send_in_process(mailing_id: int, run_id: int) -> None:
    """No worker in the embedded default: send here, with a progress bar."""
    from mailer.delivery import dispatch, progress, sender

    batches = dispatch.run_batches(run_id)
    total = sum(len(batch) for batch in batches)
    label = f"Mailing {mailing_id}: sending {total} email(s)"  # printed once without a terminal
    # Ctrl-C stops after the email in flight, as a worker asked to stop does: interrupted
    # anywhere else, the send would leave that email "sending", its run unfinished for
    # SEND_STALL_SECONDS and then the email "unknown". A second Ctrl-C stops at once.
    interrupt = signal.signal(signal.SIGINT, _stop_after_the_email_in_flight)
    try:
        with click.progressbar(length=total, label=label) as bar:
            for batch in batches:
                if sender.HAND_BACK.is_set():
                    break
                sender.send_batch(run_id, batch, on_progress=bar.update)
    finally:
        signal.signal(signal.SIGINT, interrupt)
    counts = progress.run_progress(run_id)
    if sender.HAND_BACK.is_set():
        sender.HAND_BACK.clear()
        minutes = -(-current_app.config["SEND_STALL_SECONDS"] // 60)
        raise click.ClickException(
            f"Mailing {mailing_id}: stopped; {counts['sent']} sent, and the other"
            f" {counts['pending']} wait in run {run_id}: the scheduler (make run, or"
            f" flask start-scheduler) sends them within {minutes} minutes."
        )
    click.echo(
        f"Mailing {mailing_id}: {counts['sent']} sent, {counts['failed']} failed, "
        f"{counts['pending']} waiting for a retry."
    )


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--fork", is_flag=True, help="Run each job in a forked work horse (slower).")
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    """Run an RQ worker on the mailer queues (needs REDIS_URL)."""
    from mailer.delivery import worker

    if not current_app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed.")
    _reach_the_services()
    worker.run_worker(current_app._get_current_object(), burst=burst, fork=fork)


def _reach_the_services() -> None:
    """Before a long-running process starts: the database and Redis (when set) answer, or
    the command ends with one line naming the setting (_unreachable_in_one_line). Once
    running, it waits out an outage instead."""
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    if current_app.config["REDIS_URL"]:
        from mailer.redis_client import redis_connection

        redis_connection().ping()


@click.command("start-scheduler")
@with_appcontext
def start_scheduler_command() -> None:
    """Enqueue dispatch every minute: rq-scheduler with Redis, a plain loop without."""
    from mailer.delivery import scheduler

    app = current_app._get_current_object()
    _reach_the_services()
    if app.config["REDIS_URL"]:
        scheduler.run_rq_scheduler(app)
        return
    stop = threading.Event()
    try:
        scheduler.run_embedded(app, stop)
    except KeyboardInterrupt:
        stop.set()


@click.command("read-inbox")
@with_appcontext
def read_inbox_command() -> None:
    """Read the sending account's mailbox once: mailto unsubscribes and bounce reports."""
    from mailer.delivery import inbox

    if not current_app.config["INBOX_SERVER"]:
        raise click.ClickException(
            "INBOX_SERVER is not set: set it to the sending account's IMAP server"
            " (e.g. INBOX_SERVER=imap.yandex.ru) to read its mailbox."
        )
    try:
        counts = inbox.read_inbox()
    except inbox.InboxError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Read the inbox: {counts}.")


def _unreachable_in_one_line() -> None:
    """A command that cannot reach the database or Redis (`flask db upgrade` with a wrong
    DATABASE_URL, a worker whose Redis is down), or finds the database not migrated, ends
    with one line naming the setting and the driver's reason, as a malformed setting
    does; other errors keep their traceback. An uncaught exception ends a `flask` command
    through sys.excepthook."""
    previous = sys.excepthook
    if getattr(previous, "mailer_outages", False):
        return

    def hook(kind, error, trace):
        if outages.schema_behind(error):
            print(
                f"mailer: the database lacks migrations (DATABASE_URL): {outages.reason(error)};"
                " run `flask --app wsgi db upgrade`",
                file=sys.stderr,
            )
            return
        service = outages.unreachable(error)
        if service is None:
            previous(kind, error, trace)
            return
        setting = "DATABASE_URL" if service == "database" else "REDIS_URL"
        what = "the database" if service == "database" else "Redis"
        print(f"mailer: cannot reach {what} ({setting}): {outages.reason(error)}", file=sys.stderr)

    hook.mailer_outages = True
    sys.excepthook = hook


def init_app(app: Flask) -> None:
    _unreachable_in_one_line()
    for command in (seed_demo_command, up_command):
        app.cli.add_command(command)
    for command in (csu_command, user_group):
        app.cli.add_command(command)
    for command in (
        mailing_start_command,
        mailing_start_now_command,
        worker_command,
        start_scheduler_command,
        read_inbox_command,
    ):
        app.cli.add_command(command)
