"""A name or an email typed as one long word wraps: the other columns stay on screen.

Anyone can register as a 200-character name without a space. Before, such a word
widened its column until the rest of every row (and its Block or Delete button)
lay beyond the right edge of the screen. A list of many pages keeps its page
links on a phone's screen too, and on a phone the managers' lists and the attempt
log keep to fewer columns, so the status, the buttons and the clients stay on it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import insert

from mailer.extensions import db
from mailer.models import Client
from tests import factories
from tests.e2e.ui import log_in

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG_NAME = "Ж" + "x" * 199  # the longest name the forms take, without a space
LONG_EMAIL = "l" * 64 + "@" + "o" * 60 + ".example.com"  # longest local part, long domain


@pytest.fixture
def long_named_owner(ui):
    owner = factories.make_user(LONG_EMAIL, full_name=LONG_NAME, locale=ui.lang)
    factories.make_client(owner, "short@example.com", full_name="Short")
    factories.make_client(owner, LONG_EMAIL, full_name=LONG_NAME)
    return owner


def _opened(open_page, ui, email: str, path: str, *, viewport: dict = DESKTOP) -> Page:
    """`path` in a browser logged in as `email` (at desktop width: the menu folds away on
    a phone), then at `viewport`."""
    page = open_page(ui.lang, viewport=DESKTOP)
    log_in(page, ui, email, factories.PASSWORD)
    page.set_viewport_size(viewport)
    page.goto(path)
    return page


def _right_edge(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not on the page"
    return box["x"] + box["width"]


def _assert_on_screen(page: Page, locator: Locator) -> None:
    expect(locator).to_be_visible()
    width = page.viewport_size["width"]
    assert _right_edge(locator) <= width, f"{locator} ends beyond the screen's {width}px"


def _assert_no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def test_users_screen_keeps_the_block_button_on_screen_beside_a_long_name(
    open_page, ui, long_named_owner
):
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, "/manager/users")
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(page, row.get_by_text(ui.t("active"), exact=True))
    _assert_on_screen(page, row.get_by_role("button", name=ui.t("Block")))
    _assert_on_screen(page, page.get_by_role("columnheader", name=ui.t("Last login")))
    _assert_no_sideways_scroll(page)


def test_client_list_keeps_the_delete_button_on_screen_beside_a_long_name(
    open_page, ui, long_named_owner
):
    page = _opened(open_page, ui, long_named_owner.email, "/clients/")
    for row in page.get_by_role("row").filter(has_text="@").all():
        _assert_on_screen(page, row.get_by_role("button", name=ui.t("Delete")))
    _assert_on_screen(page, page.get_by_role("columnheader", name=ui.t("State")))
    _assert_on_screen(page, page.get_by_role("columnheader", name=ui.t("Added")))
    _assert_no_sideways_scroll(page)


def test_mailing_form_shows_a_long_named_clients_email_inside_the_list(
    open_page, ui, long_named_owner
):
    page = _opened(open_page, ui, long_named_owner.email, "/mailings/new")
    client_list = page.locator("#client-list")
    expect(client_list.get_by_text(LONG_NAME)).to_be_visible()
    sideways = client_list.evaluate("box => box.scrollWidth - box.clientWidth")
    assert sideways <= 0, f"the client list scrolls {sideways}px sideways"
    emails = client_list.locator(".form-check-label span")
    for email in emails.all():
        assert _right_edge(email) <= _right_edge(client_list)
    _assert_no_sideways_scroll(page)


def test_users_screen_on_a_phone_wraps_the_long_name_within_the_screen(
    open_page, ui, long_named_owner
):
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, "/manager/users", viewport=PHONE)
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    row.scroll_into_view_if_needed()
    _assert_on_screen(page, row.get_by_text(LONG_NAME).locator("visible=true"))
    _assert_on_screen(page, row.get_by_text(ui.t("active"), exact=True))
    _assert_on_screen(page, row.get_by_role("button", name=ui.t("Block")))
    _assert_no_sideways_scroll(page)


def test_manager_and_attempt_lists_keep_status_buttons_and_clients_on_a_phone(
    open_page, ui, long_named_owner
):
    """Their tables scroll sideways when they must; what a manager acts on or looks for
    must not be out there. The mailing, run and owner columns give way on a phone."""
    long_named = db.session.scalar(db.select(Client).filter_by(email=LONG_EMAIL))
    run = factories.make_run(factories.make_mailing(long_named_owner, clients=[long_named]))
    factories.make_attempt(run, long_named)
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, "/manager/mailings", viewport=PHONE)
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(page, row.get_by_role("button", name=ui.t("Disable")))
    _assert_on_screen(page, row.get_by_text(ui.t("created"), exact=True))
    page.goto("/manager/attempts")
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(page, row.get_by_text(ui.t("success"), exact=True))
    _assert_on_screen(page, row.get_by_text(LONG_NAME))


def test_admin_user_list_keeps_every_column_on_screen_beside_a_long_name(
    open_page, ui, long_named_owner
):
    superuser = factories.make_user("root@example.com", is_superuser=True, locale=ui.lang)
    page = _opened(open_page, ui, superuser.email, "/admin/users/")

    _assert_on_screen(page, page.locator("th.col-created_at"))
    _assert_no_sideways_scroll(page)


def test_many_pages_of_clients_fit_a_phone(open_page, ui):
    owner = factories.make_user("pages@example.com", locale=ui.lang)
    rows = [{"owner_id": owner.id, "email": f"c{n:04}@example.com"} for n in range(50 * 61)]
    db.session.execute(insert(Client), rows)
    db.session.commit()
    # Page 30: links to pages on both sides of it.
    page = _opened(open_page, ui, owner.email, "/clients/?page=30", viewport=PHONE)
    pages = page.get_by_role("navigation", name=ui.t("Pages"))
    _assert_on_screen(page, pages.get_by_role("link", name=ui.t("Next")))
    _assert_no_sideways_scroll(page)
