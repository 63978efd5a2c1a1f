"""Trying mailer at home (`make run`: debug mode, no mail server): a visitor registers and
confirms the address from the outbox page, without a mail program."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.ui import log_in

PASSWORD = "violet-harbour-42"


def test_a_visitor_confirms_the_address_from_the_outbox_and_logs_in(
    open_page, ui, live_app, monkeypatch
):
    monkeypatch.setitem(live_app.config, "DEBUG", True)
    address = "vera@example.com"
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
    expect(page.locator("#rendered-text")).to_contain_text(address)
    ui.look(page)
    page.locator("#rendered-text a[href*='/auth/confirm/']").click()
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(ui.t("Your address is confirmed. You can log in now."))).to_be_visible()

    log_in(page, ui, address, PASSWORD)
    ui.assert_translated()
