"""A user changes their login address, and deletes their account, from the profile."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Client, User
from tests import factories
from tests.e2e.ui import log_in, outbox, text_of


def test_a_user_deletes_their_account_after_a_wrong_password(open_page, ui):
    owner = factories.make_user("leaving@example.com", locale=ui.lang)
    factories.make_client(owner, "ann@example.com")
    owner_id = owner.id
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/auth/profile")
    page.get_by_role("link", name=ui.t("Delete your account")).click()
    expect(page.locator("#account-contents")).to_contain_text(ui.t("Clients: %(num)s", num=1))
    ui.look(page)

    page.get_by_label(ui.t("Your password")).fill("not-my-password")
    page.get_by_role("button", name=ui.t("Delete my account")).click()
    expect(page.get_by_text(ui.t("This is not your current password."))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(User, owner_id) is not None

    page.get_by_label(ui.t("Your password")).fill(factories.PASSWORD)
    page.get_by_role("button", name=ui.t("Delete my account")).click()
    expect(
        page.get_by_text(ui.t("Your account is deleted, with everything in it."))
    ).to_be_visible()
    expect(page.get_by_role("link", name=ui.t("Log in"))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(User, owner_id) is None
    assert db.session.scalar(db.select(Client).filter_by(owner_id=owner_id)) is None
    ui.assert_translated()


def _ask_for_the_link(page, ui, new_email: str) -> None:
    """Send the change-email form open on `page`, and see it say where the link went."""
    page.get_by_label(ui.t("New email")).fill(new_email)
    page.get_by_label(ui.t("Current password")).fill(factories.PASSWORD)
    page.get_by_role("button", name=ui.t("Send the link")).click()
    sent = ui.t(
        "We sent a link to %(email)s. Your address changes once you open it.", email=new_email
    )
    expect(page.get_by_text(sent)).to_be_visible()


def test_a_user_changes_their_address_by_the_link_sent_to_it(open_page, ui, app):
    owner = factories.make_user("old.address@example.com", locale=ui.lang)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/auth/profile")
    page.get_by_role("link", name=ui.t("Change email")).click()
    ui.look(page)
    _ask_for_the_link(page, ui, "new.address@example.com")

    [email] = [m for m in outbox(app.config["MAIL_OUTBOX"]) if m["To"] == "new.address@example.com"]
    assert email["Subject"] == ui.t("Confirm your new email address")
    ui.read(text_of(email), "the address change email")
    page.goto(re.search(r"https?://\S+/auth/change-email/\S+", text_of(email)).group())
    ui.look(page)
    page.get_by_role("button", name=ui.t("Change my address")).click()
    done = ui.t("Your address is now %(email)s.", email="new.address@example.com")
    expect(page.get_by_text(done)).to_be_visible()
    db.session.expire_all()
    assert db.session.get(User, owner.id).email == "new.address@example.com"
    ui.assert_translated()


def test_an_address_with_an_international_domain_is_kept_as_typed_not_as_punycode(open_page, ui):
    """Chromium sends a `type="email"` field's domain as punycode (xn--…): mailer's address
    fields are text fields, so `пример.рф` reaches mailer, and its owner's pages, as typed."""
    owner = factories.make_user("owner@example.com", locale=ui.lang)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/auth/change-email")
    expect(page.get_by_label(ui.t("New email"))).to_have_attribute("inputmode", "email")
    _ask_for_the_link(page, ui, "nina@пример.рф")  # which names the address as typed

    page.goto("/clients/new")
    page.get_by_label(ui.t("Email")).fill("anna@пример.рф")
    page.get_by_role("button", name=ui.t("Save")).click()
    expect(page.get_by_role("link", name="anna@пример.рф")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(db.select(Client.email)) == "anna@пример.рф"
