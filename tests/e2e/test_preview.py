"""The message preview shows the HTML part as sent, styles included, and runs none of it."""

from __future__ import annotations

from contextlib import suppress

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


def test_the_unsubscribe_link_in_the_preview_opens_the_clients_page_in_the_frame(open_page, ui):
    """Mailer's pages may be framed by mailer's own (frame-ancestors 'self'), no other site's."""
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com", full_name="Anna")
    message = factories.make_message(
        owner, body_html='<p><a id="leave" href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/messages/{message.id}")

    frame = page.frame_locator("#rendered-html")
    heading = frame.locator("h1")
    frame.locator("#leave").click()
    # Chromium now and then drops a click on a sandboxed frame it is still setting up
    # (once in CI, 2026-12-06: no request reached the server; 44 runs here never): a
    # person clicks again, and so does this test, once.
    with suppress(AssertionError):
        expect(heading).to_have_text(ui.t("Unsubscribe?"), timeout=3_000)
    if heading.count() == 0 and frame.locator("#leave").count() == 1:
        frame.locator("#leave").click()
    expect(heading).to_have_text(ui.t("Unsubscribe?"))


def test_another_site_cannot_show_mailer_in_a_frame(page, live_server):
    """Clickjacking: a page elsewhere (here "localhost", another origin than 127.0.0.1)."""
    other_site = live_server.replace("127.0.0.1", "localhost")
    page.goto(f"{other_site}/static/mailer.css")  # any page of that other origin
    page.set_content(f'<iframe id="victim" src="{live_server}/auth/login"></iframe>')
    frame = page.frame_locator("#victim")
    expect(frame.locator("body")).not_to_contain_text("Log in", timeout=3_000)
