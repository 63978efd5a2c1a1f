"""Mailing, attempt-log and report pages with thousands of mailings (`make bench`, PostgreSQL).

Called by bench_clients.py on its throwaway database once the clients are in.
Set-based SQL gives the bench user `mailings` mailings and about `attempts`
attempts, half of them spread over the small mailings (two finished runs
each) and half in the newest mailing, sent to all the user's clients and
half-way through its run (its other deliveries pending). A manager is added
for the managers' screens. Then every page is timed like the client list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pages import logged_in, time_pages
from sqlalchemy import text

MESSAGES = 100
RUNS_PER_MAILING = 2

SEED = [
    """INSERT INTO messages (owner_id, subject, body_text, body_html, created_at, updated_at)
       SELECT :owner, 'Newsletter ' || g, 'Hello {{ client.full_name }}', '', now(), now()
       FROM generate_series(1, :messages) g""",
    """INSERT INTO mailings (owner_id, message_id, start_at, end_at, frequency, timezone,
                             is_active, status, next_send_at, disabled_at, disabled_by_id,
                             created_at)
       SELECT :owner, (SELECT min(id) FROM messages WHERE owner_id = :owner) + g % :messages,
              now() - interval '60 days' + (g % 50) * interval '1 day',
              now() + interval '300 days' + (g % 50) * interval '1 day',
              (ARRAY['once', 'daily', 'weekly', 'monthly'])[1 + g % 4], 'Europe/Moscow',
              g % 20 <> 0, (ARRAY['created', 'started', 'completed'])[1 + g % 3],
              CASE WHEN g % 3 = 1 THEN now() + (g % 48) * interval '1 hour' END,
              CASE WHEN g % 20 = 0 THEN now() END, CASE WHEN g % 20 = 0 THEN :owner END,
              now() - (:mailings - g) * interval '1 minute'
       FROM generate_series(1, :mailings) g ORDER BY g""",
    # The small mailings: `per_mailing` clients each, two finished runs.
    """INSERT INTO mailing_clients (mailing_id, client_id)
       SELECT m.id, :first_client + (m.id * :per_mailing + k) % :clients
       FROM mailings m, generate_series(0, :per_mailing - 1) k
       WHERE m.owner_id = :owner AND m.id < :big""",
    """INSERT INTO runs (mailing_id, number, scheduled_for, forced, created_at, finished_at)
       SELECT m.id, r + 1, m.start_at + r * interval '1 day', false,
              m.start_at + r * interval '1 day', m.start_at + r * interval '1 day 10 minutes'
       FROM mailings m, generate_series(0, :runs - 1) r
       WHERE m.owner_id = :owner AND m.id < :big""",
    """INSERT INTO deliveries (run_id, client_id, status, tries, updated_at)
       SELECT r.id, mc.client_id,
              CASE WHEN (mc.client_id + r.id) % 10 = 0 THEN 'failed' ELSE 'sent' END, 1,
              r.scheduled_for
       FROM runs r JOIN mailing_clients mc ON mc.mailing_id = r.mailing_id
       WHERE r.mailing_id IN (SELECT id FROM mailings WHERE owner_id = :owner AND id < :big)""",
    # The big one: every client, one run in progress, `big_sent` of them tried so far.
    """INSERT INTO mailing_clients (mailing_id, client_id)
       SELECT :big, id FROM clients WHERE owner_id = :owner""",
    """INSERT INTO runs (mailing_id, number, scheduled_for, forced, created_at)
       VALUES (:big, 1, now() - interval '1 hour', false, now() - interval '1 hour')""",
    """INSERT INTO deliveries (run_id, client_id, status, tries, updated_at)
       SELECT (SELECT id FROM runs WHERE mailing_id = :big), id,
              CASE WHEN id - :first_client >= :big_sent THEN 'pending'
                   WHEN id % 20 = 0 THEN 'failed' ELSE 'sent' END,
              CASE WHEN id - :first_client >= :big_sent THEN 0 ELSE 1 END, now()
       FROM clients WHERE owner_id = :owner""",
    """INSERT INTO attempts (owner_id, mailing_id, run_id, delivery_id, client_id, recipient,
                             attempted_at, success, reply_code, reply)
       SELECT :owner, r.mailing_id, r.id, d.id, d.client_id, c.email,
              r.scheduled_for + (d.id % 3000) * interval '1 second', d.status = 'sent',
              CASE WHEN d.status = 'sent' THEN 250 ELSE 550 END,
              CASE WHEN d.status = 'sent' THEN '250 2.0.0 Ok: queued'
                   ELSE '550 5.1.1 <' || c.email || '>: Recipient address rejected' END
       FROM deliveries d JOIN runs r ON r.id = d.run_id JOIN clients c ON c.id = d.client_id
       WHERE d.status IN ('sent', 'failed')""",
    # What the sender keeps as it goes: each run's total, and a tally row per chunk of
    # 250 deliveries a worker claimed (one attempt per tried delivery here).
    """UPDATE runs SET total = (SELECT count(*) FROM deliveries d WHERE d.run_id = runs.id)
       WHERE mailing_id IN (SELECT id FROM mailings WHERE owner_id = :owner)""",
    """INSERT INTO run_tallies (run_id, shard, attempts, successes, sent, failed)
       SELECT d.run_id, min(d.id), count(*), count(*) FILTER (WHERE d.status = 'sent'),
              count(*) FILTER (WHERE d.status = 'sent'), count(*) FILTER (WHERE d.status = 'failed')
       FROM deliveries d JOIN runs r ON r.id = d.run_id JOIN mailings m ON m.id = r.mailing_id
       WHERE m.owner_id = :owner AND d.status IN ('sent', 'failed')
       GROUP BY d.run_id, d.id / 250""",
    """INSERT INTO users (email, password_hash, full_name, timezone, locale, is_superuser,
                          is_blocked, confirmed_at, created_at)
       VALUES ('manager-' || :stamp || '@example.com', '!', 'Bench manager', 'UTC', 'en',
               false, false, now(), now())""",
    """INSERT INTO user_roles (user_id, name)
       SELECT id, 'manager' FROM users WHERE email = 'manager-' || :stamp || '@example.com'""",
]


@dataclass(frozen=True)
class Seeded:
    small: int  # a small mailing's id
    big: int  # the mailing sent to every client
    big_run: int
    client: int  # one of the small mailing's clients (the big one has them all)
    manager: int
    attempts: int


def run(app, user_id: int, *, mailings: int, attempts: int) -> list[str]:
    """Seed, then time the pages; returns the labels of the pages that missed the target."""
    from mailer.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            print("mailing pages: measured on PostgreSQL only (set DATABASE_URL)")
            return []
        seeded = _seed(db, user_id, mailings, attempts)
    browser = logged_in(app, user_id)
    missed = time_pages(app, browser, _owner_pages(seeded, mailings))
    manager = logged_in(app, seeded.manager)
    missed += time_pages(app, manager, _manager_pages())
    return missed


def _seed(db, owner: int, mailings: int, attempts: int) -> Seeded:
    started = time.perf_counter()
    first_client, clients = db.session.execute(
        text("SELECT min(id), count(*) FROM clients WHERE owner_id = :owner"), {"owner": owner}
    ).one()
    small_mailings = max(mailings - 1, 1)
    per_mailing = max(1, min(clients, attempts // 2 // (small_mailings * RUNS_PER_MAILING)))
    big_sent = max(0, min(clients, attempts - small_mailings * RUNS_PER_MAILING * per_mailing))
    first_mailing = (db.session.scalar(text("SELECT max(id) FROM mailings")) or 0) + 1
    parameters = {
        "owner": owner,
        "messages": MESSAGES,
        "mailings": mailings,
        "first_client": first_client,
        "clients": clients,
        "per_mailing": per_mailing,
        "runs": RUNS_PER_MAILING,
        "big": first_mailing + mailings - 1,
        "big_sent": big_sent,
        "stamp": str(time.time_ns()),
    }
    for statement in SEED:
        db.session.execute(text(statement), parameters)
    db.session.commit()
    _vacuum(db)
    seeded = _seeded(db, parameters)
    print(
        f"mailings: {mailings:,} with {seeded.attempts:,} attempts seeded in"
        f" {time.perf_counter() - started:.1f} s ({per_mailing} clients and {RUNS_PER_MAILING}"
        f" runs each; mailing #{seeded.big} goes to all {clients:,} clients, its run"
        f" {big_sent:,} tried so far)",
        flush=True,
    )
    return seeded


def _vacuum(db) -> None:
    """The state autovacuum reaches soon after: statistics and visibility maps up to date."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in (
            "messages",
            "mailings",
            "mailing_clients",
            "runs",
            "run_tallies",
            "deliveries",
            "attempts",
        ):
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def _seeded(db, parameters: dict) -> Seeded:
    big = parameters["big"]
    return Seeded(
        small=db.session.scalar(
            text("SELECT min(id) FROM mailings WHERE owner_id = :owner"), parameters
        ),
        big=big,
        big_run=db.session.scalar(text("SELECT id FROM runs WHERE mailing_id = :big"), parameters),
        client=db.session.scalar(
            text(
                "SELECT min(client_id) FROM mailing_clients WHERE mailing_id ="
                " (SELECT min(id) FROM mailings WHERE owner_id = :owner)"
            ),
            parameters,
        ),
        manager=db.session.scalar(
            text("SELECT id FROM users WHERE email = 'manager-' || :stamp || '@example.com'"),
            parameters,
        ),
        attempts=db.session.scalar(
            text("SELECT count(*) FROM attempts WHERE owner_id = :owner"), parameters
        ),
    )


def _owner_pages(seeded: Seeded, mailings: int) -> dict[str, str]:
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    month_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    middle = max(1, mailings // 25 // 2)
    return {
        "mailings, first page": "/mailings/",
        f"mailings, page {middle}": f"/mailings/?page={middle}",
        "mailing detail (small)": f"/mailings/{seeded.small}",
        "mailing detail (all clients)": f"/mailings/{seeded.big}",
        "mailing edit form (all clients)": f"/mailings/{seeded.big}/edit",
        "new mailing form": "/mailings/new",
        "clients of a small mailing": f"/clients/?mailing={seeded.small}",
        "clients of the big mailing, sorted by name": f"/clients/?mailing={seeded.big}&sort=name",
        "a client's page (its mailings, attempts)": f"/clients/{seeded.client}/edit",
        "new client form": "/clients/new",
        "attempt log, first page": "/attempts/",
        "attempt log, failures": "/attempts/?status=failure",
        "attempt log, one small mailing": f"/attempts/?mailing={seeded.small}",
        "attempt log, the big run": f"/attempts/?mailing={seeded.big}&run={seeded.big_run}",
        "attempt log, last 7 days": f"/attempts/?date_from={week_ago}",
        "attempt log, one client": f"/attempts/?client={seeded.client}",
        "report, first page": "/reports/",
        "report, last 30 days": f"/reports/?date_from={month_ago}",
        "report, page 100": "/reports/?page=100",
    }


def _manager_pages() -> dict[str, str]:
    return {
        "manager: users": "/manager/users",
        "manager: all mailings": "/manager/mailings",
        "manager: disabled mailings": "/manager/mailings?status=disabled",
        "manager: all attempts": "/manager/attempts",
    }
