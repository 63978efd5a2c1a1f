"""The message preview shows the HTML part as sent, styles included, and runs none of it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories
from tests.e2e.ui import log_in


def test_the_html_part_shows_styled_and_its_script_never_runs(open_page, ui):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com", full_name="Anna")
    message = factories.make_message(
        owner,
        body_html='<p id="hi" style="color: rgb(255, 0, 0)">Hi {{ client.full_name }}</p>'
        "<script>alert('ran'); document.title = 'ran'</script>",
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"/messages/{message.id}")

    greeting = page.frame_locator("#rendered-html").locator("#hi")
    expect(greeting).to_have_text("Hi Anna")
    expect(greeting).to_have_css("color", "rgb(255, 0, 0)")  # the owner's own style, as sent
    assert dialogs == []
    assert page.title() != "ran"
    ui.look(page)
