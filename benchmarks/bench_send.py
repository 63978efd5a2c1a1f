"""How fast mailer sends: `make bench-send` (prints figures; not a timed test).

Sends a mailing to N clients (default 20,000; personalised subject and body,
a ~2 KB text part and a ~6 KB HTML part) through the real pipeline - dispatch,
RQ workers, SMTP - to Postfix's `smtp-sink` on 127.0.0.1, and compares it with

- the transport ceiling: the same N messages prebuilt as bytes, sent with
  bare smtplib over one connection;
- the plain baseline: a loop that builds each email with the `email` package
  (MIMEMultipart, text + HTML) and sends it over one connection.

It also sends the prebuilt messages through mailer's own SMTP transport, to
show how much of the smtplib "ceiling" is smtplib's own work.

It works on its own throwaway database: `<DATABASE_URL's name>_bench` on
PostgreSQL (dropped and created again), or a temporary SQLite file; and on
Redis database BENCH_REDIS_DB (13) of REDIS_URL (flushed). Without REDIS_URL
the pipeline runs in-process (one "worker"). The workers use the configured
SEND_BATCH_SIZE (1000 by default). The machine's load average is printed at
the start and the end: other work on the machine skews every figure. Each
pipeline line also says how many of the machine's CPUs were busy while it
ran (the workers, PostgreSQL, Redis and the sink together), and what that
comes to per email: two workers cannot send twice as fast as one on a
machine whose CPUs they fill, nor when each email costs them more CPU. The
line under it splits that CPU by process (read from /proc): the workers,
PostgreSQL, the sink, and the other processes.

An email may cost more CPU once the CPUs are full than with a CPU to spare
(each process waits for a CPU, and finds its caches filled by the others).
So the bench also runs one worker while busy loops keep the other CPUs busy,
and from what an email costs there prints the most two workers can send on
this machine.

On a virtual machine the host may take CPU time away ("steal", in
/proc/stat): it is not counted as busy, and each line says how many CPUs it
took. Because of it, and of other work on the machine, the measurements run
in rounds (--rounds, 3 by default), each measuring everything back to back;
each round's figures and ratios are printed, then the best of each figure.

Sending to a provider's server across the internet, a worker mostly waits
for its replies, not for the CPUs: the bench also sends a smaller run (1,000
clients) to an aiosmtpd sink that answers each email 20 ms late, with one
worker and with two (--distant-ms, 0 to skip; --distant-clients).

    python benchmarks/bench_send.py [--clients N] [--skip-two] [--rounds R]
                                    [--distant-ms MS] [--distant-clients N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from databases import fresh_postgres_database  # noqa: E402 - a sibling module

SENDER = "news@bench.example"
DISTANT_BATCH = 50  # deliveries per job when sending to the distant server
SUBJECT = "News for {{ client.full_name }}"
PARAGRAPH = (
    "Our weekly news: new products, better prices and stories from customers like you. "
    "Read on for the details of everything that changed this week at our shop. "
)
TEXT = (
    "Dear {{ client.full_name }},\n\n"
    + (PARAGRAPH + "\n") * 12
    + "\nYour address: {{ client.email }}\nUnsubscribe: {{ unsubscribe_url }}\n"
)
HTML = (
    "<html><body><h1>Hello, {{ client.full_name }}!</h1>"
    + ("<p style='font-family: sans-serif; color: #333'>" + PARAGRAPH * 2 + "</p>\n") * 16
    + "<p>Sent to {{ client.email }}. <a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
    + "</body></html>"
)


# -- environment ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """Postfix's smtp-sink on a free loopback port, counting what it accepted."""

    def __init__(self) -> None:
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        self.port = free_port()
        # Its counter goes to a file: a pipe nobody reads would fill and stall the sink.
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the sink
        self.process = subprocess.Popen(  # noqa: S603 - a fixed local binary
            [binary, "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "256"],
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("smtp-sink did not start")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        self.output.seek(0)
        output = self.output.read().decode(errors="replace")
        self.output.close()
        counts = re.findall(r"mesg=(\d+)", output)
        return int(counts[-1]) if counts else 0


class DistantSink:
    """An aiosmtpd sink in this process that answers each message `delay` seconds late,
    as a server across the internet does; counts what it accepted. Its few hundred emails
    a second are plenty at that pace."""

    def __init__(self, delay: float) -> None:
        import asyncio

        from aiosmtpd.controller import Controller

        sink = self
        self.accepted = 0

        class LateHandler:
            async def handle_DATA(self, server, session, envelope):
                await asyncio.sleep(delay)
                sink.accepted += 1
                return "250 2.0.0 Ok: queued"

        self.port = free_port()
        self.pid = os.getpid()  # it runs in this process
        self.controller = Controller(LateHandler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> int:
        self.controller.stop()
        return self.accepted


def bench_environ() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()}
    environ.setdefault("SECRET_KEY", "bench-secret")
    environ.setdefault("BASE_URL", "http://127.0.0.1:5000")  # its workers send real SMTP
    environ["FLASK_DEBUG"] = "0"
    environ["LOG_LEVEL"] = "WARNING"
    url = os.environ.get("DATABASE_URL")
    if url:
        environ["DATABASE_URL"] = fresh_postgres_database(url)
    else:
        environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    if os.environ.get("REDIS_URL"):
        database = os.environ.get("BENCH_REDIS_DB", "13")
        environ["REDIS_URL"] = urlunsplit(
            urlsplit(os.environ["REDIS_URL"])._replace(path=f"/{database}")
        )
    return environ


# -- the data ---------------------------------------------------------------------


def create_mailing(clients: int) -> int:
    from datetime import timedelta

    from sqlalchemy import insert, select

    from mailer.extensions import db
    from mailer.models import Client, Mailing, Message, User, mailing_clients, utcnow

    user = User(email="bench@bench.example", password_hash="!", confirmed_at=utcnow())  # noqa: S106
    db.session.add(user)
    db.session.flush()
    message = Message(owner_id=user.id, subject=SUBJECT, body_text=TEXT, body_html=HTML)
    later = utcnow() + timedelta(days=365)
    mailing = Mailing(
        owner_id=user.id, message=message, start_at=later, end_at=later + timedelta(days=1)
    )
    db.session.add(mailing)
    db.session.flush()
    for start in range(0, clients, 10_000):
        rows = [
            {
                "owner_id": user.id,
                "email": f"client{n}@example.com",
                "full_name": f"Client Number {n}",
                "comment": "",
                "hard_bounces": 0,
            }
            for n in range(start, min(clients, start + 10_000))
        ]
        db.session.execute(insert(Client), rows)
    ids = db.session.scalars(select(Client.id).where(Client.owner_id == user.id)).all()
    db.session.execute(
        insert(mailing_clients), [{"mailing_id": mailing.id, "client_id": i} for i in ids]
    )
    db.session.commit()
    return mailing.id


def smaller_mailing(mailing_id: int, clients: int) -> int:
    """A copy of the mailing to its first `clients` clients."""
    from sqlalchemy import insert, select

    from mailer.extensions import db
    from mailer.models import Mailing, mailing_clients

    mailing = db.session.get(Mailing, mailing_id)
    copy = Mailing(
        owner_id=mailing.owner_id,
        message_id=mailing.message_id,
        start_at=mailing.start_at,
        end_at=mailing.end_at,
    )
    db.session.add(copy)
    db.session.flush()
    ids = db.session.scalars(
        select(mailing_clients.c.client_id)
        .where(mailing_clients.c.mailing_id == mailing_id)
        .order_by(mailing_clients.c.client_id)
        .limit(clients)
    ).all()
    db.session.execute(
        insert(mailing_clients), [{"mailing_id": copy.id, "client_id": i} for i in ids]
    )
    db.session.commit()
    return copy.id


def client_rows(clients: int) -> list[tuple[int, str, str]]:
    return [(n + 1, f"client{n}@example.com", f"Client Number {n}") for n in range(clients)]


# -- the measurements ------------------------------------------------------------------


def measure_dispatch(mailing_id: int) -> tuple[int, float, int]:
    from sqlalchemy import func, select

    from mailer.delivery import dispatch
    from mailer.extensions import db
    from mailer.models import Delivery

    started = time.perf_counter()
    run_id = dispatch.start_forced_run(mailing_id)
    elapsed = time.perf_counter() - started
    count = db.session.scalar(select(func.count()).where(Delivery.run_id == run_id))
    return run_id, elapsed, count


def run_pipeline(
    app,
    environ: dict,
    mailing_id: int,
    workers: int,
    sink: Sink | DistantSink,
    left_out: frozenset[int] = frozenset(),
) -> dict:
    """Warm workers wait on the queue; the clock runs from enqueue to the run's end.
    The CPU of the processes `left_out` (busy loops) counts in none of its parts."""
    from mailer.delivery import dispatch

    run_id, dispatch_seconds, count = measure_dispatch(mailing_id)
    if not app.config["REDIS_URL"]:
        from mailer.delivery import sender

        worker_pids = {os.getpid()}
        cpu_before, processes_before = _machine_cpu(), _process_cpu()
        started = time.perf_counter()
        for batch in dispatch.run_batches(run_id):
            sender.send_batch(run_id, batch)
        elapsed = time.perf_counter() - started
        cpu_after, processes_after = _machine_cpu(), _process_cpu()
        memory = [{"worker_mb": _maxrss_mb(resource.RUSAGE_SELF), "horse_mb": 0.0}]
    else:
        processes = _start_workers(environ, workers, sink)
        worker_pids = {process.pid for process in processes}
        try:
            cpu_before, processes_before = _machine_cpu(), _process_cpu()
            started = time.perf_counter()
            dispatch.enqueue_run(run_id)
            _wait_finished(run_id, processes)
            elapsed = time.perf_counter() - started
            cpu_after, processes_after = _machine_cpu(), _process_cpu()
        except BaseException:
            for process in processes:
                process.kill()
            raise
        for process in processes:
            process.send_signal(signal.SIGTERM)
        memory = [_worker_report(process) for process in processes]
    busy, stolen = _cpus_used(cpu_before, cpu_after)
    parts = _cpu_by_part(processes_before, processes_after, worker_pids, sink.pid, left_out)
    return {
        "run_id": run_id,
        "deliveries": count,
        "dispatch_seconds": dispatch_seconds,
        "seconds": elapsed,
        "rate": count / elapsed,
        "memory": memory,
        "cpus_busy": busy,
        "cpus_stolen": stolen,
        "cpu_seconds_by_part": parts,
    }


def _start_workers(environ: dict, workers: int, sink: Sink) -> list[subprocess.Popen]:
    from rq import Worker

    from mailer.redis_client import redis_connection

    env = {**environ, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(sink.port)}
    processes = []
    for _ in range(workers):
        # Output to a file: RQ logs every job, and a pipe read only at the end would fill.
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the worker
        process = subprocess.Popen(  # noqa: S603 - this script, as a worker
            [sys.executable, __file__, "--worker"], env=env, cwd=ROOT, stdout=log
        )
        process.log = log
        processes.append(process)
    while len(Worker.all(connection=redis_connection())) < workers:
        time.sleep(0.1)
    return processes


def _worker_report(process: subprocess.Popen) -> dict:
    process.wait(timeout=60)
    process.log.seek(0)
    lines = process.log.read().decode(errors="replace").strip().splitlines()
    process.log.close()
    return json.loads(lines[-1])


def _wait_finished(run_id: int, processes: list[subprocess.Popen]) -> None:
    """Until the run is finished; stops the bench when a job failed or a worker died,
    which would otherwise leave it waiting for ever."""
    from flask import current_app
    from rq import Queue

    from mailer.extensions import db
    from mailer.models import Run
    from mailer.redis_client import redis_connection

    queue = Queue(current_app.config["RQ_QUEUE"], connection=redis_connection())
    failed = queue.failed_job_registry
    while True:
        db.session.expire_all()
        if db.session.get(Run, run_id).finished_at is not None:
            db.session.commit()
            return
        db.session.commit()
        if failed.count:
            job = failed.get_job_ids()[0]
            result = failed.job_class.fetch(job, connection=failed.connection).latest_result()
            raise SystemExit(f"a send job failed:\n{result.exc_string if result else job}")
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a worker exited before the run finished")
        time.sleep(0.05)


def transport_ceiling(port: int, messages: list[tuple[str, bytes]]) -> float:
    smtp = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for recipient, data in messages:
        smtp.sendmail(SENDER, [recipient], data)
    elapsed = time.perf_counter() - started
    smtp.quit()
    return len(messages) / elapsed


def mailer_transport(port: int, messages: list[tuple[str, bytes]]) -> float:
    """The same prebuilt messages through mailer's SMTP transport (pipelined when offered)."""
    from mailer.delivery.transport import SmtpTransport

    transport = SmtpTransport(
        {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_USE_SSL": False,
            "MAIL_USE_TLS": False,
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
            "MAIL_TIMEOUT": 30,
        }
    )
    started = time.perf_counter()
    for (recipient, data), following in zip(messages, messages[1:] + [None], strict=True):
        reply = transport.send(SENDER, recipient, data, following=following and following[0])
        if not reply.ok:
            raise SystemExit(f"the sink refused a message: {reply}")
    elapsed = time.perf_counter() - started
    transport.close()
    return len(messages) / elapsed


def prebuilt_messages(clients: list[tuple[int, str, str]]) -> list[tuple[str, bytes]]:
    from mailer.delivery.mime import MessageBuilder, message_id_key
    from mailer.delivery.render import ClientContext, compile_message

    compiled = compile_message(subject=SUBJECT, body_text=TEXT, body_html=HTML)
    builder = MessageBuilder(
        sender=SENDER, run_id=0, has_html=True, key=message_id_key("bench-secret")
    )
    built = []
    for client_id, address, name in clients:
        url = f"http://127.0.0.1/u/{client_id}"
        rendered = compiled.render(client=ClientContext(address, name), unsubscribe_url=url)
        built.append(
            (
                address,
                builder.build(
                    to=address,
                    client_id=client_id,
                    rendered=rendered,
                    unsubscribe_url=url,
                    mailto=SENDER,
                ),
            )
        )
    return built


def plain_baseline(port: int, clients: list[tuple[int, str, str]]) -> float:
    """What typical code does: build each email with the email package, send it."""
    smtp = smtplib.SMTP("127.0.0.1", port)
    text = TEXT.replace("{{ ", "{").replace(" }}", "}").replace("client.", "")
    html = HTML.replace("{{ ", "{").replace(" }}", "}").replace("client.", "")
    subject = SUBJECT.replace("{{ ", "{").replace(" }}", "}").replace("client.", "")
    started = time.perf_counter()
    for client_id, address, name in clients:
        values = {
            "full_name": name,
            "email": address,
            "unsubscribe_url": f"http://127.0.0.1/u/{client_id}",
        }
        message = MIMEMultipart("alternative")
        message["From"] = SENDER
        message["To"] = address
        message["Subject"] = subject.format(**values)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="bench.example")
        message.attach(MIMEText(text.format(**values), "plain", "utf-8"))
        message.attach(MIMEText(html.format(**values), "html", "utf-8"))
        smtp.sendmail(SENDER, [address], message.as_bytes())
    elapsed = time.perf_counter() - started
    smtp.quit()
    return len(clients) / elapsed


def _machine_cpu() -> tuple[int, int, int] | None:
    """The whole machine's CPU time so far (Linux's /proc/stat): busy, stolen, total.

    "Stolen" is time the hypervisor gave to other guests while this one wanted
    to run; it is not counted as busy.
    """
    try:
        with open("/proc/stat") as stat:
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            times = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return None
    steal = times[7] if len(times) > 7 else 0
    return sum(times) - times[3] - times[4] - steal, steal, sum(times)


def _cpus_used(before, after) -> tuple[float, float] | tuple[None, None]:
    """How many of the machine's CPUs were busy, and how many stolen, between two
    readings, on average."""
    if before is None or after is None or after[2] == before[2]:
        return None, None
    total = after[2] - before[2]
    cpus = os.cpu_count()
    return (after[0] - before[0]) / total * cpus, (after[1] - before[1]) / total * cpus


def _process_cpu() -> dict[int, tuple[str, int]]:
    """Each process's name and CPU time so far, in clock ticks (Linux's /proc)."""
    times = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                data = stat.read()
        except OSError:
            continue  # it ended meanwhile
        # "pid (name) state ...": the name may hold spaces and parentheses.
        name = data[data.index("(") + 1 : data.rindex(")")]
        fields = data[data.rindex(")") + 2 :].split()
        times[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return times


def _cpu_by_part(
    before: dict, after: dict, worker_pids: set[int], sink_pid: int, left_out: frozenset[int]
) -> dict:
    """CPU seconds each part used between two readings: the workers, PostgreSQL (all its
    processes), the sink, and other processes. CPU time outside any process (interrupts),
    that of processes which ended meanwhile, and that of `left_out` is in none of them."""
    parts = dict.fromkeys(("workers", "PostgreSQL", "sink", "other"), 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for pid, (name, ticks) in after.items():
        if pid in left_out:
            continue
        used = (ticks - before[pid][1] if pid in before else ticks) / tick
        if pid in worker_pids:
            parts["workers"] += used
        elif pid == sink_pid:
            parts["sink"] += used
        elif name == "postgres":
            parts["PostgreSQL"] += used
        else:
            parts["other"] += used
    return parts


def _spin(rounds: int) -> None:
    total = 0
    for value in range(rounds):
        total += value


@contextmanager
def busy_loops(count: int):
    """`count` processes that keep a CPU each busy meanwhile; yields their pids."""
    from multiprocessing import get_context

    processes = [get_context("fork").Process(target=_spin, args=(10**15,)) for _ in range(count)]
    for process in processes:
        process.start()
    try:
        yield frozenset(process.pid for process in processes)
    finally:
        for process in processes:
            process.kill()
            process.join()


def machine_two_process_ratio(rounds: int = 10_000_000) -> float:
    """How much more two CPU-bound processes get done here than one, side by side
    (less than 2 where the CPUs share a core or a host). They share nothing; the
    pipeline's processes hand each email on to each other."""
    from multiprocessing import get_context

    started = time.perf_counter()
    _spin(rounds)
    alone = time.perf_counter() - started
    processes = [get_context("fork").Process(target=_spin, args=(rounds,)) for _ in range(2)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return 2 * alone / (time.perf_counter() - started)


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _own_peak_mb() -> float:
    """This process's own peak memory.

    On Linux ru_maxrss of a process started by (v)fork + exec also counts the
    memory its parent had at that moment - here the bench itself, which holds
    all N clients - so the kernel's high-water mark of this process is read
    instead.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mb(resource.RUSAGE_SELF)


def worker_main() -> None:
    """One RQ worker in burst mode; prints its peak memory (and its work horses') as JSON."""
    from mailer import create_app
    from mailer.delivery import worker

    app = create_app()
    with app.app_context():
        worker.run_worker(app)  # until the bench sends SIGTERM
    report = {
        "worker_mb": _own_peak_mb(),
        "horse_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
    }
    print(json.dumps(report))  # noqa: T201 - the parent reads it


# -- main ------------------------------------------------------------------------------


def measure_round(app, environ: dict, mailing_id: int, worker_counts, clients, messages) -> dict:
    """Each measurement once, one right after the other, so that what the host does to
    this machine's speed meanwhile touches all of them alike."""
    cpu_before = _machine_cpu()
    pipelines = {}
    figures = {"pipeline": pipelines}
    with app.app_context():
        for workers in worker_counts:
            pipelines[workers] = pipeline_to(Sink(), app, environ, mailing_id, workers)
        if 2 in worker_counts:  # what an email costs once two workers fill the CPUs
            with busy_loops(os.cpu_count() - 1) as loops:
                figures["crowded"] = pipeline_to(Sink(), app, environ, mailing_id, 1, loops)
    for name, measure, work in (
        ("ceiling", transport_ceiling, messages),
        ("own_transport", mailer_transport, messages),
        ("baseline", plain_baseline, clients),
    ):
        sink = Sink()
        figures[name] = measure(sink.port, work)
        figures[f"{name}_sink"] = sink.stop()
    figures["two_processes"] = machine_two_process_ratio()
    figures["stolen"] = _cpus_used(cpu_before, _machine_cpu())[1]
    return figures


def pipeline_to(
    sink: Sink | DistantSink,
    app,
    environ: dict,
    mailing_id: int,
    workers: int,
    left_out: frozenset[int] = frozenset(),
):
    """run_pipeline against `sink`, which it then stops; with what the sink counted."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port, MAIL_OUTBOX=None)
    try:
        result = run_pipeline(app, environ, mailing_id, workers, sink, left_out)
    finally:
        counted = sink.stop()
    return {**result, "sink": counted}


def measure_distant(app, environ: dict, mailing_id: int, milliseconds: int, clients: int):
    """One and two workers sending the mailing's first `clients` clients to a server that
    answers each email `milliseconds` late: waiting, not the CPUs, then bounds each
    worker, as with a provider's server. Small batches (DISTANT_BATCH), so that both
    workers get a share of the run."""
    pipelines = {}
    with app.app_context():
        mailing_id = smaller_mailing(mailing_id, clients)
        size = app.config["SEND_BATCH_SIZE"]
        app.config["SEND_BATCH_SIZE"] = DISTANT_BATCH
        try:
            for workers in (1, 2):
                sink = DistantSink(milliseconds / 1000)
                pipelines[workers] = pipeline_to(sink, app, environ, mailing_id, workers)
        finally:
            app.config["SEND_BATCH_SIZE"] = size
    for workers, result in pipelines.items():
        if result["sink"] != result["deliveries"]:
            raise SystemExit(
                f"the distant sink counted {result['sink']} of {result['deliveries']}"
                f" emails with {workers} worker(s)"
            )
    return pipelines


def _check_counts(rounds: list[dict], n: int) -> None:
    """The sink must have accepted every email of every measurement."""
    for number, figures in enumerate(rounds, 1):
        counts = {f"pipeline, {w} worker(s)": r["sink"] for w, r in figures["pipeline"].items()}
        if "crowded" in figures:
            counts["pipeline, 1 worker, the other CPUs busy"] = figures["crowded"]["sink"]
        for name in ("ceiling", "own_transport", "baseline"):
            counts[name] = figures[f"{name}_sink"]
        wrong = {name: count for name, count in counts.items() if count != n}
        if wrong:
            raise SystemExit(f"round {number}: the sink did not count {n} emails: {wrong}")


def _round_line(number: int, figures: dict) -> str:
    pipelines = figures["pipeline"]
    one = pipelines[1]["rate"]
    line = f"round {number}: 1 worker {one:.0f}/s"
    if 2 in pipelines:
        line += f", 2 workers {pipelines[2]['rate']:.0f}/s ({pipelines[2]['rate'] / one:.2f}x)"
    line += (
        f", ceiling {figures['ceiling']:.0f}/s, baseline {figures['baseline']:.0f}/s"
        f" (1 worker {one / figures['baseline']:.2f}x it)"
    )
    if figures["stolen"] is not None:
        line += f"; the host stole {figures['stolen']:.2f} of {os.cpu_count()} CPUs"
    return line


def _pipeline_line(workers: int, results: list[dict]) -> str:
    best = max(results, key=lambda result: result["rate"])
    peak = max(
        max(memory["worker_mb"], memory["horse_mb"])
        for result in results
        for memory in result["memory"]
    )
    line = (
        f"pipeline, {workers} worker(s): {best['rate']:8.0f} emails/s "
        f"({best['deliveries']} in {best['seconds']:.1f} s; sink counted {best['sink']}; "
        f"peak memory per worker {peak:.0f} MB"
    )
    busy, stolen = best["cpus_busy"], best["cpus_stolen"]
    if busy is None:
        return line + ")"
    return line + (
        f"; CPUs busy {busy:.2f} of {os.cpu_count()}, {busy / best['rate'] * 1e6:.0f} µs of CPU"
        f" per email, {stolen:.2f} stolen by the host)\n  {_parts(best)}"
    )


def _parts(result: dict) -> str:
    parts = ", ".join(
        f"{part} {seconds / result['deliveries'] * 1e6:.0f}"
        for part, seconds in result["cpu_seconds_by_part"].items()
    )
    return f"CPU per email by process, µs: {parts}"


def _cpu_per_email(result: dict) -> float:
    """Seconds of CPU an email cost the pipeline's processes (busy loops left out)."""
    return sum(result["cpu_seconds_by_part"].values()) / result["deliveries"]


def _print_bound(one: dict, crowded: dict) -> None:
    """What two workers can gain at most here: as many emails a second as the CPUs
    pay for at what an email costs once they are full, which one worker beside busy
    loops measures."""
    full, spare = _cpu_per_email(crowded), _cpu_per_email(one)
    if not full:
        return  # no CPU figures (not Linux)
    most = os.cpu_count() / full
    print(
        f"  at most {most / one['rate']:.2f}x on this machine: with its {os.cpu_count()} CPUs"
        f" full, an email costs {full * 1e6:.0f} µs of CPU (all the pipeline's processes),"
        f" {spare * 1e6:.0f} µs with a CPU to spare; so they send at most {most:.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--skip-two", action="store_true", help="only one worker")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each figure is measured; the best counts"
    )
    parser.add_argument(
        "--distant-ms",
        type=int,
        default=20,
        help="also send to a server that answers this late, with 1 and 2 workers (0: skip)",
    )
    parser.add_argument(
        "--distant-clients", type=int, default=1000, help="clients of that measurement"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    environ = bench_environ()
    os.environ.update(environ)
    from flask_migrate import upgrade

    from mailer import create_app

    app = create_app(environ=environ)
    n = args.clients
    with app.app_context():
        upgrade()
        from mailer.redis_client import redis_connection

        if redis_connection() is not None:
            redis_connection().flushdb()
        database = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
        queue = "RQ on Redis" if app.config["REDIS_URL"] else "in-process (no Redis)"
        print(f"mailer bench-send: {n} clients, database {database}, jobs {queue}")
        print(f"load average at the start: {_load_average()}; {os.cpu_count()} CPUs")
        print("creating the clients and the mailing ...", flush=True)
        mailing_id = create_mailing(n)
        worker_counts = (1,) if args.skip_two or not app.config["REDIS_URL"] else (1, 2)

    clients = client_rows(n)
    messages = prebuilt_messages(clients)
    rounds = []
    for number in range(1, args.rounds + 1):
        print(
            f"round {number} of {args.rounds}: the pipeline with "
            f"{' and '.join(map(str, worker_counts))} worker(s), the transport ceiling,"
            " the plain baseline ...",
            flush=True,
        )
        rounds.append(measure_round(app, environ, mailing_id, worker_counts, clients, messages))
        print("  " + _round_line(number, rounds[-1]), flush=True)
    _check_counts(rounds, n)
    distant = None
    if args.distant_ms > 0 and 2 in worker_counts:
        print(
            f"1 and 2 worker(s) to a server that answers {args.distant_ms} ms late,"
            f" {args.distant_clients} clients ...",
            flush=True,
        )
        distant = measure_distant(app, environ, mailing_id, args.distant_ms, args.distant_clients)

    pipelines = {w: [figures["pipeline"][w] for figures in rounds] for w in worker_counts}
    best = {w: max(results, key=lambda result: result["rate"]) for w, results in pipelines.items()}
    ceiling = max(figures["ceiling"] for figures in rounds)
    own_transport = max(figures["own_transport"] for figures in rounds)
    baseline = max(figures["baseline"] for figures in rounds)
    two_processes = max(figures["two_processes"] for figures in rounds)
    dispatch_seconds = [r["dispatch_seconds"] for results in pipelines.values() for r in results]

    print()
    print(f"the best of {args.rounds} round(s), each figure on its own:")
    print(
        f"dispatch: run with {best[1]['deliveries']} deliveries created in "
        f"{min(dispatch_seconds):.2f} s (slowest of {len(dispatch_seconds)}: "
        f"{max(dispatch_seconds):.2f} s)"
    )
    for workers, results in pipelines.items():
        print(_pipeline_line(workers, results))
    crowded = min(  # the round whose bound is the most in two workers' favour
        (figures["crowded"] for figures in rounds if "crowded" in figures),
        key=_cpu_per_email,
        default=None,
    )
    if crowded:
        print(
            f"pipeline, 1 worker, the other CPU(s) busy: {crowded['rate']:.0f} emails/s"
            f" (beside {os.cpu_count() - 1} busy loop(s))\n  {_parts(crowded)}"
        )
    print(f"transport ceiling (prebuilt bytes, bare smtplib): {ceiling:8.0f} emails/s")
    print(
        f"  the same through mailer's transport:             {own_transport:8.0f} emails/s "
        "(for comparison, not a target)"
    )
    print(f"plain baseline (email package + smtplib):         {baseline:8.0f} emails/s")
    print(f"the sink counted {n} emails in every measurement")
    print()
    one = best[1]["rate"]
    print(f"pipeline (1 worker) / plain baseline:     {one / baseline:5.2f}x  (target >= 2)")
    print(f"pipeline (1 worker) / transport ceiling:  {one / ceiling:5.0%}   (target >= 30%)")
    if 2 in best:
        print(
            f"pipeline 2 workers / 1 worker:            "
            f"{best[2]['rate'] / one:5.2f}x  (target >= 1.6)"
        )
        if crowded:
            _print_bound(best[1], crowded)
    if distant:
        one_far, two_far = distant[1]["rate"], distant[2]["rate"]
        print(
            f"  the same to a server {args.distant_ms} ms away:  {two_far / one_far:5.2f}x  "
            f"(1 worker {one_far:.0f}/s, 2 workers {two_far:.0f}/s, {distant[1]['deliveries']}"
            f" clients in batches of {DISTANT_BATCH}; for comparison, not a target)"
        )
    print(
        f"this machine, 2 CPU-bound processes / 1:  {two_processes:5.2f}x  "
        "(processes that share nothing and wait for nothing)"
    )
    print(f"load average at the end: {_load_average()}")


if __name__ == "__main__":
    main()
