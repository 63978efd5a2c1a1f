"""A user writes a message, putting placeholders in with the buttons under its fields, and
previews it before saving."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Message
from tests import factories
from tests.e2e.ui import log_in


def test_the_buttons_put_a_placeholder_where_the_caret_is(open_page, ui):
    owner = factories.make_user("writer@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com", full_name="Анна")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/messages/new")
    ui.look(page)

    def buttons(field_id: str):
        return page.get_by_role("toolbar").and_(page.locator(f'[aria-controls="{field_id}"]'))

    subject = page.get_by_label(ui.t("Subject"))
    subject.fill("News for ")
    buttons("subject").get_by_role("button", name=ui.t("Name")).click()
    expect(subject).to_have_value("News for {{ client.full_name }}")
    expect(buttons("subject").get_by_role("button")).to_have_count(3)  # no unsubscribe link

    text = page.get_by_label(ui.t("Text body"))
    text.fill("Dear ,\nLeave: here")
    text.evaluate("field => field.setSelectionRange(5, 5)")  # the caret after "Dear "
    buttons("body_text").get_by_role("button", name=ui.t("Name")).click()
    expect(text).to_be_focused()
    page.keyboard.type("!")  # typing goes on after what was put in
    text.evaluate("field => field.setSelectionRange(field.value.length - 4, field.value.length)")
    buttons("body_text").get_by_role("button", name=ui.t("Unsubscribe link")).click()  # for "here"
    expect(text).to_have_value("Dear {{ client.full_name }}!,\nLeave: {{ unsubscribe_url }}")

    # With the keyboard: Tab reaches the toolbar once, the arrows choose a button in it.
    subject.focus()
    page.keyboard.press("Tab")
    in_subject = buttons("subject")
    expect(in_subject.get_by_role("button", name=ui.t("Name"))).to_be_focused()
    page.keyboard.press("End")
    expect(in_subject.get_by_role("button", name=ui.t("Comment"))).to_be_focused()
    page.keyboard.press("ArrowRight")  # round to the first
    expect(in_subject.get_by_role("button", name=ui.t("Name"))).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    expect(in_subject.get_by_role("button", name=ui.t("Email"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(subject).to_have_value("News for {{ client.full_name }}{{ client.email }}")
    page.keyboard.press("Backspace")  # the caret stays where it was put: after the email
    expect(subject).to_have_value("News for {{ client.full_name }}{{ client.email }")
    subject.fill("News for {{ client.full_name }}")
    buttons("subject").get_by_role("button", name=ui.t("Email")).focus()
    page.keyboard.press("Tab")
    expect(text).to_be_focused()

    page.get_by_role("button", name=ui.t("Preview"), exact=True).click()  # saves nothing
    expect(page.locator("#draft-title")).to_have_text(
        ui.t("Preview, not saved: as %(client)s gets it", client="Анна")
    )
    expect(page.locator("#rendered-subject")).to_have_text("News for Анна")
    assert page.url.endswith("/messages/new#draft")
    ui.look(page)
    assert db.session.scalars(db.select(Message).where(Message.owner_id == owner.id)).all() == []

    page.get_by_role("button", name=ui.t("Save")).click()
    expect(page.get_by_text(ui.t("Message saved."))).to_be_visible()
    expect(page.locator("main")).to_contain_text("Dear Анна!,")
    saved = db.session.scalars(db.select(Message).where(Message.owner_id == owner.id)).one()
    assert saved.subject == "News for {{ client.full_name }}"
    ui.assert_translated()
