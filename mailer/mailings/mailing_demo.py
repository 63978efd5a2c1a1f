"""Load `mailer/fixtures/main_app_data.json`: the demo user's clients, messages and mailings.

Times in the fixture are minutes relative to now, so the demo always has
mailings due right away (a new user sees sends in the outbox within a minute
of `make run`), one started, one created, one completed and one disabled.
Loading is idempotent: clients match on email, messages on subject and
mailings on (message, frequency), so running `flask seed-demo` twice adds
nothing the second time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailer.delivery import tallies
from mailer.delivery.schedule import slot
from mailer.extensions import db
from mailer.mailings import mailing_services as services
from mailer.models import Attempt, Client, Delivery, Mailing, Message, Run, User, utcnow

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "main_app_data.json"
# Past runs of the demo are marked as such in the attempt log.
DEMO_REPLY = "2.0.0 Ok: queued (demo history)"


def load_main_app_data(path: Path = FIXTURE, *, now: datetime | None = None) -> int:
    """Add what the fixture holds and the database lacks; returns the mailings added. Flushes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    owner = User.by_email(data["owner"])
    if owner is None:
        return 0
    now = now or utcnow()
    clients = _owned_by_key(Client, owner, data["clients"], "email")
    messages = _owned_by_key(Message, owner, data["messages"], "subject")
    added = 0
    for spec in data["mailings"]:
        message = messages[spec["message"]]
        if _has_mailing(owner, message, spec["frequency"]):
            continue
        _mailing(owner, spec, message, clients, now)
        added += 1
    return added


def _owned_by_key(model, owner: User, specs: list[dict[str, str]], key: str) -> dict:
    """The owner's rows of `model` by `key`, adding those of `specs` not there yet."""
    existing = {getattr(row, key): row for row in model.owned_by(owner)}
    for spec in specs:
        if spec[key] not in existing:
            row = model(owner_id=owner.id, **spec)
            db.session.add(row)
            existing[spec[key]] = row
    db.session.flush()
    return existing


def _has_mailing(owner: User, message: Message, frequency: str) -> bool:
    query = select(Mailing.id).where(
        Mailing.owner_id == owner.id,
        Mailing.message_id == message.id,
        Mailing.frequency == frequency,
    )
    return db.session.scalar(query.limit(1)) is not None


def _mailing(
    owner: User, spec: dict[str, Any], message: Message, clients: dict[str, Client], now: datetime
) -> Mailing:
    chosen = spec["clients"]
    selection = (
        services.ClientSelection(scope="all")
        if chosen == "all"
        else services.ClientSelection(ids=[clients[email].id for email in chosen])
    )
    mailing = services.create_mailing(
        owner=owner,
        data=services.MailingData(
            message_id=message.id,
            clients=selection,
            start_at=now + timedelta(minutes=spec["start_in_minutes"]),
            end_at=now + timedelta(minutes=spec["end_in_minutes"]),
            frequency=spec["frequency"],
            timezone=spec["timezone"],
            name=spec.get("name", ""),
            takes_new_clients=spec.get("takes_new_clients", False),
        ),
        now=now,
        allow_past=True,
    )
    if spec.get("history_runs"):
        _history(mailing, spec["history_runs"], now)
    if spec.get("disabled"):
        services.disable_mailing(mailing=mailing, by=owner, now=now)
    return mailing


def _history(mailing: Mailing, count: int, now: datetime) -> None:
    """Past runs with one successful attempt per client, so the log and report show something."""
    recipients = list(mailing.clients)
    for index in range(count):
        when = slot(
            start_at=mailing.start_at, frequency=mailing.frequency, tz=mailing.timezone, index=index
        )
        if when > now:
            break
        run = Run(
            mailing_id=mailing.id, scheduled_for=when, finished_at=when, total=len(recipients)
        )
        db.session.add(run)
        db.session.flush()
        sent = len(recipients)
        tallies.add(run.id, attempts=sent, successes=sent, sent=sent)
        for client in recipients:
            delivery = Delivery(run_id=run.id, client_id=client.id, status="sent", tries=1)
            db.session.add(delivery)
            db.session.flush()
            db.session.add(
                Attempt(
                    owner_id=mailing.owner_id,
                    mailing_id=mailing.id,
                    run_id=run.id,
                    delivery_id=delivery.id,
                    client_id=client.id,
                    recipient=client.email,
                    attempted_at=when + timedelta(seconds=5),
                    success=True,
                    reply_code=250,
                    reply=DEMO_REPLY,
                )
            )
    if mailing.next_send_at is not None:
        mailing.status = "started"
    db.session.flush()
