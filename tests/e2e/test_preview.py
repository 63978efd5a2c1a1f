"""The message preview shows the HTML part as sent, styles included, and runs none of it."""

from __future__ import annotations

import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
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


@pytest.fixture
def image_host():
    """Another site serving one image, and counting who asked for it (another port of
    127.0.0.1 is another origin)."""

    class Pixel(BaseHTTPRequestHandler):
        asked: list[str] = []

        def do_GET(self):  # noqa: N802 - http.server's name
            Pixel.asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(GIF)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", Pixel.asked
    server.shutdown()


GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def test_a_managers_look_loads_nothing_remote_the_owners_preview_shows(open_page, ui, image_host):
    """An image, a style sheet, a font or a video would tell its owner when a manager opened
    their mailing, and from where."""
    host, asked = image_host
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    manager = factories.make_user("boss@example.com", roles=["manager"], locale=ui.lang)
    message = factories.make_message(
        owner,
        body_html=(
            f'<link rel="stylesheet" href="{host}/sheet.css">'
            f"<style>@import url({host}/import.css);"
            f"@font-face {{ font-family: F; src: url({host}/font.woff) }}"
            " p { font-family: F }</style>"
            f'<p><img id="logo" src="{host}/owner.gif"></p>'
            f'<video src="{host}/clip.mp4"></video><audio src="{host}/sound.mp3"></audio>'
            f'<iframe src="{host}/frame.html"></iframe>'
        ),
    )
    mailing = factories.make_mailing(owner, message=message)

    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/messages/{message.id}")
    expect(page.frame_locator("#rendered-html").locator("#logo")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert "/owner.gif" in asked  # the owner sees their own logo, loaded from its site
    seen_by_owner = len(asked)

    manager_page = open_page(ui.lang)
    log_in(manager_page, ui, manager.email, factories.PASSWORD)
    manager_page.goto(f"/manager/mailings/{mailing.id}")
    expect(manager_page.frame_locator("#rendered-html").locator("#logo")).to_be_attached()
    manager_page.wait_for_load_state("networkidle")

    assert len(asked) == seen_by_owner  # nothing more: the manager's page loaded nothing
