"""A user makes a copy of a message and of a mailing, and sends the copy."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Mailing, Message, mailing_clients, utcnow
from tests import factories
from tests.e2e.ui import log_in


def test_a_user_copies_a_message_and_saves_it_with_a_new_subject(open_page, ui):
    owner = factories.make_user("copier@example.com", locale=ui.lang)
    original = factories.make_message(owner, "Spring news", body_text="Dear {{ client.full_name }}")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/messages/{original.id}")

    page.get_by_role("link", name=ui.t("Make a copy")).click()

    expect(page.locator("#copy-of")).to_have_text(
        ui.t(
            "A copy of “%(subject)s”: change what you like, then save it as a new message.",
            subject="Spring news",
        )
    )
    ui.look(page)
    subject = page.get_by_label(ui.t("Subject"))
    expect(subject).to_have_value("Spring news")
    subject.fill("Summer news")
    page.get_by_role("button", name=ui.t("Save")).click()
    expect(page.get_by_text(ui.t("Message saved."))).to_be_visible()
    db.session.expire_all()
    copies = db.session.scalars(
        db.select(Message).where(Message.owner_id == owner.id).order_by(Message.id)
    ).all()
    assert [(m.subject, m.body_text) for m in copies] == [
        ("Spring news", "Dear {{ client.full_name }}"),
        ("Summer news", "Dear {{ client.full_name }}"),
    ]
    ui.assert_translated()


def test_a_user_copies_a_mailing_checks_its_times_and_enables_it(open_page, ui):
    owner = factories.make_user("copier@example.com", locale=ui.lang)
    clients = [
        factories.make_client(owner, "anna@example.com"),
        factories.make_client(owner, "boris@example.com"),
    ]
    start = utcnow() - timedelta(days=14)
    mailing = factories.make_mailing(
        owner, clients=clients, name="Spring", start_at=start, end_at=start + timedelta(days=1)
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/mailings/{mailing.id}")

    page.get_by_role("button", name=ui.t("Make a copy")).click()

    expect(page.locator(".alert-success")).to_have_text(
        ui.t(
            "A copy of “%(name)s”, with its clients. It sends nothing until you tick Active "
            "and save it: check its times first.",
            name="Spring",
        )
    )
    ui.look(page)
    expect(page.get_by_label(ui.t("Mailing name"))).to_have_value(
        ui.t("%(name)s (copy)", name="Spring")
    )
    active = page.get_by_label(ui.t("Active"))
    expect(active).not_to_be_checked()
    active.check()
    page.get_by_role("button", name=ui.t("Save")).click()  # its start has passed
    expect(
        page.get_by_text(
            ui.t("The start has passed: this mailing would never send. Choose a later start.")
        )
    ).to_be_visible()

    later = (utcnow() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label(ui.t("Start")).fill(later)
    page.get_by_role("button", name=ui.t("Save")).click()

    expect(page.get_by_text(ui.t("Mailing saved."))).to_be_visible()
    ui.look(page)
    db.session.expire_all()
    copy = db.session.scalars(db.select(Mailing).where(Mailing.id != mailing.id)).one()
    assert copy.is_active
    assert copy.next_send_at > utcnow()
    linked = db.session.scalars(
        db.select(mailing_clients.c.client_id).where(mailing_clients.c.mailing_id == copy.id)
    ).all()
    assert sorted(linked) == sorted(client.id for client in clients)
    ui.assert_translated()
