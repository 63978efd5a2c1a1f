"""A form sent back with an error: the keyboard, and a screen reader, start at the field."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories
from tests.e2e.ui import log_in


def test_the_first_field_with_an_error_takes_the_focus(open_page, ui):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/new")
    page.get_by_label(ui.t("Full name")).fill("Anna")
    page.get_by_label(ui.t("Email")).fill("not an address")
    page.get_by_role("button", name=ui.t("Save")).click()

    email = page.get_by_label(ui.t("Email"))
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    expect(email).to_have_value("not an address")
    ui.assert_translated()
