"""A form sent after its CSRF token went stale loses nothing that was typed."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Client
from tests import factories
from tests.e2e.ui import log_in


def test_a_form_that_expired_gives_back_what_was_typed(open_page, ui):
    owner = factories.make_user("typist@example.com", locale=ui.lang)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/new")
    page.get_by_label(ui.t("Email")).fill("vera@example.com")
    page.get_by_label(ui.t("Full name")).fill("Вера Павлова")
    page.get_by_label(ui.t("Comment")).fill("met at the fair,\nsecond line")
    # As if the page had stayed open past the session that signed its token.
    page.locator("main form input[name=csrf_token]").evaluate("field => { field.value = 'stale'; }")
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()

    expired = "The form expired (the page was open a long time, or you logged in again)."
    expect(page.get_by_text(ui.t(expired))).to_be_visible()
    page.get_by_role("link", name=ui.t("Back to the form")).click()

    expect(page.get_by_role("status")).to_have_text(
        ui.t("What you typed is back. Check it and send the form again.")
    )
    expect(page.get_by_label(ui.t("Email"))).to_have_value("vera@example.com")
    expect(page.get_by_label(ui.t("Full name"))).to_have_value("Вера Павлова")
    expect(page.get_by_label(ui.t("Comment"))).to_have_value("met at the fair,\nsecond line")
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()
    expect(page.get_by_role("status")).to_have_count(0)
    db.session.expire_all()
    saved = db.session.scalar(db.select(Client).filter_by(owner_id=owner.id))
    assert (saved.email, saved.full_name) == ("vera@example.com", "Вера Павлова")
