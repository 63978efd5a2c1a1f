"""Demo data of the mailings area: `flask seed-demo` loads main_app_data.json once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from mailer import demo
from mailer.extensions import db
from mailer.models import Attempt, Client, Mailing, Message, Run, User, utcnow


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Client, Message, Mailing, Run, Attempt)
    }


def test_seed_demo_gives_the_demo_user_data_in_every_status(app):
    demo.seed_demo()
    db.session.commit()

    owner = User.by_email("user@example.com")
    mailings = Mailing.owned_by(owner).all()
    assert {mailing.status for mailing in mailings} >= {"created", "started", "completed"}
    assert any(not mailing.is_active and mailing.disabled_by_id == owner.id for mailing in mailings)
    assert any(mailing.takes_new_clients for mailing in mailings)
    assert Client.owned_by(owner).filter(Client.full_name == "Анна Иванова").count() == 1
    assert all("{{ client.full_name }}" in m.body_text for m in Message.owned_by(owner))


def test_seed_demo_has_mailings_due_right_away(app):
    demo.seed_demo()
    db.session.commit()

    due = Mailing.query.filter(
        Mailing.is_active.is_(True), Mailing.next_send_at <= utcnow() + timedelta(seconds=1)
    ).all()
    assert len(due) >= 2
    assert all(mailing.clients for mailing in due)


def test_seed_demo_twice_adds_nothing_twice(app):
    demo.seed_demo()
    db.session.commit()
    first = counts()

    demo.seed_demo()
    db.session.commit()

    assert counts() == first
    assert first["Mailing"] == 6


def test_demo_user_sees_the_demo_mailings_and_report(app, client, login):
    demo.seed_demo()
    db.session.commit()
    browser = login(User.by_email("user@example.com"))

    assert "Новости недели" in browser.get("/mailings/").get_data(as_text=True)
    report = browser.get("/reports/").get_data(as_text=True)
    assert "Spring sale ended" in report
    assert "demo history" in browser.get("/attempts/").get_data(as_text=True)
