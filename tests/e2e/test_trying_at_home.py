"""Trying mailer at home (`make run`: debug mode, no mail server): a visitor registers and
confirms the address from the outbox page, without a mail program; or logs in with a demo
login the login page offers."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories
from tests.e2e.ui import log_in

PASSWORD = "violet-harbour-42"


def test_a_visitor_confirms_the_address_from_the_outbox_and_logs_in(
    open_page, ui, live_app, monkeypatch
):
    monkeypatch.setitem(live_app.config, "DEBUG", True)
    # An address of its own: the journeys register theirs, and an address gets at most
    # ACCOUNT_MAILS_PER_HOUR account emails, counted in-process without Redis.
    address = f"at-home-{ui.lang}@example.com"
    page = open_page(ui.lang)
    page.goto("/auth/register")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.locator("main form button[type=submit]").click()

    page.get_by_role("link", name=ui.t("Open the outbox")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ui.t("Outbox"))
    ui.look(page)
    page.get_by_role("link", name=ui.t("Confirm your email address")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ui.t("An email in the outbox"))
    expect(page.locator("#rendered-text")).to_contain_text(
        ui.t("Please confirm your email address to start using Mailer:")
    )
    ui.look(page)
    page.locator("#rendered-text a[href*='/auth/confirm/']").click()
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(ui.t("Your address is confirmed. You can log in now."))).to_be_visible()

    log_in(page, ui, address, PASSWORD)
    ui.assert_translated()


def test_a_visitor_logs_in_with_a_demo_login_in_one_click(open_page, ui, live_app, monkeypatch):
    from werkzeug.security import generate_password_hash

    from mailer import demo
    from mailer.extensions import db

    monkeypatch.setitem(live_app.config, "DEBUG", True)
    # The demo manager alone (the demo data's mailings would be due at once).
    manager = factories.make_user("manager@example.com", full_name="Demo Manager")
    manager.password_hash = generate_password_hash(demo.DEMO_PASSWORD)
    db.session.commit()
    page = open_page(ui.lang)
    page.goto("/auth/login")
    expect(page.locator("#demo-logins")).to_contain_text("manager@example.com")
    ui.look(page)

    log_in_as = ui.t("Log in as %(email)s", email="manager@example.com")
    page.get_by_role("button", name=log_in_as).click()

    expect(page.locator(".nav-account-name")).to_have_text("Demo Manager")
    ui.assert_translated()
