"""A name or an email typed as one long word wraps: the other columns stay on screen.

Anyone can register as a 200-character name without a space. Before, such a word
widened its column until the rest of every row (and its Block or Delete button)
lay beyond the right edge of the screen. A list of many pages keeps its page
links on a phone's screen too, and on a phone (375px) every list keeps to fewer
columns, so the status, the buttons, the clients, the server's replies and what
became of the emails stay on it. Last, the page's frame for a keyboard: a skip
link first, and a focus ring that shows on the blue navbar. The other way round, an
everyday address or name in the admin's lists, the attempt logs and the managers' list
of mailings is not split to make room.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import insert

from mailer.extensions import db
from mailer.models import CONTENT_MANAGER, Client, utcnow
from tests import factories
from tests.e2e.ui import log_in, tab_to

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}  # the narrowest phone in use (an iPhone SE)
TABLET = {"width": 768, "height": 1024}
SMALL_LAPTOP = {"width": 1024, "height": 768}  # and a tablet held sideways
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
    """Visible without scrolling: within the screen, and within the box of a table that
    scrolls sideways (the table is cut at the box's edge)."""
    expect(locator).to_be_visible()
    width = page.viewport_size["width"]
    assert _right_edge(locator) <= width, f"{locator} ends beyond the screen's {width}px"
    box_edge = locator.evaluate(
        "e => e.closest('.table-responsive')?.getBoundingClientRect().right ?? Infinity"
    )
    assert _right_edge(locator) <= box_edge, f"{locator} ends beyond its table's {box_edge}px"


def _assert_no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def test_users_screen_keeps_the_block_button_on_screen_beside_a_long_name(
    open_page, ui, long_named_owner
):
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, "/manager/users")
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(page, row.get_by_text(ui.t("active"), exact=True).locator("visible=true"))
    _assert_on_screen(page, row.get_by_role("link", name=ui.t("Block")))
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


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_long_named_mailing_and_message_keep_their_own_pages_within_the_screen(
    open_page, ui, long_named_owner, viewport
):
    """Their titles stand in a breadcrumb and in a heading beside its buttons."""
    title = "Щ" + "y" * 199  # not the owner's name, which the navbar shows too
    message = factories.make_message(long_named_owner, title)
    mailing = factories.make_mailing(long_named_owner, message=message, name=title)
    page = _opened(
        open_page, ui, long_named_owner.email, f"/mailings/{mailing.id}", viewport=viewport
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    _assert_no_sideways_scroll(page)
    _assert_on_screen(page, page.get_by_role("button", name=ui.t("Delete")))
    page.goto(f"/messages/{message.id}")
    expect(page.get_by_text(title).first).to_be_visible()
    _assert_no_sideways_scroll(page)


def test_the_client_lists_mailing_menu_shows_its_prompt_whole_on_a_phone(open_page, ui):
    """ "Выберите рассылку" beside "Добавить в неё отмеченных" was cut to "Выберите р"."""
    owner = factories.make_user("menu@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com")
    factories.make_mailing(owner, name="News")
    page = _opened(open_page, ui, owner.email, "/clients/", viewport=PHONE)
    menu = page.get_by_label(ui.t("The mailing to add the ticked clients to"))
    room, needed = menu.evaluate(
        """menu => {
            const style = getComputedStyle(menu);
            const text = document.createElement("canvas").getContext("2d");
            text.font = style.font;
            const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
            return [menu.clientWidth - padding, text.measureText(menu.options[0].text).width];
        }"""
    )
    assert needed <= room, f"the menu shows {room:.0f}px of its {needed:.0f}px prompt"
    _assert_on_screen(page, page.get_by_role("button", name=ui.t("Add ticked to it")))
    _assert_no_sideways_scroll(page)


def test_users_screen_on_a_phone_wraps_the_long_name_within_the_screen(
    open_page, ui, long_named_owner
):
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, "/manager/users", viewport=PHONE)
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    row.scroll_into_view_if_needed()
    _assert_on_screen(page, row.get_by_text(LONG_NAME).locator("visible=true"))
    _assert_on_screen(page, row.get_by_text(ui.t("active"), exact=True).locator("visible=true"))
    _assert_on_screen(page, row.get_by_role("link", name=ui.t("Block")))
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


def test_a_disabled_mailing_keeps_its_enable_button_on_a_phone(open_page, ui, long_named_owner):
    """Under "disabled" the list says by whom and when: an address that must wrap."""
    manager = factories.make_user(
        LONG_EMAIL.replace("l", "m", 1), roles=["manager"], locale=ui.lang
    )
    factories.make_mailing(
        long_named_owner, is_active=False, disabled_by=manager, disabled_at=utcnow()
    )
    page = _opened(open_page, ui, manager.email, "/manager/mailings", viewport=PHONE)
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(page, row.get_by_role("button", name=ui.t("Enable")))


def _assert_table_fits(page: Page) -> None:
    """The list's table keeps to the screen's width: nothing of it lies sideways."""
    sideways = page.locator(".table-responsive").evaluate(
        "box => box.scrollWidth - box.clientWidth"
    )
    assert sideways <= 0, f"{page.url}'s table scrolls {sideways}px sideways"


def test_client_list_on_a_phone_keeps_each_clients_state_and_delete_button(
    open_page, ui, long_named_owner
):
    """Email, State and Delete; the name goes under the email, the date added gives way.
    A bounced client's state is the longest ("письма не доходят")."""
    factories.make_client(
        long_named_owner, "gone@example.com", unsubscribed_at=utcnow(), bounced_at=utcnow()
    )
    page = _opened(open_page, ui, long_named_owner.email, "/clients/", viewport=PHONE)
    rows = page.get_by_role("row").filter(has_text="@")
    expect(rows).to_have_count(3)
    for row in rows.all():
        _assert_on_screen(page, row.get_by_role("link").first)
        _assert_on_screen(page, row.get_by_role("button", name=ui.t("Delete")))
    for email, state in (
        ("short@example.com", "active"),
        ("gone@example.com", "unsubscribed"),
        ("gone@example.com", "bounced"),
    ):
        row = rows.filter(has_text=email)
        _assert_on_screen(page, row.get_by_text(ui.t(state), exact=True).locator("visible=true"))
    _assert_on_screen(
        page,
        rows.filter(has_text="short@example.com")
        .get_by_text("Short", exact=True)
        .locator("visible=true"),
    )
    _assert_table_fits(page)
    _assert_no_sideways_scroll(page)


def test_mailing_list_on_a_phone_keeps_the_status_next_send_and_last_result(open_page, ui):
    """The status beside the subject; the frequency, next send and last result under it."""
    owner = factories.make_user("runs@example.com", locale=ui.lang)
    message = factories.make_message(owner, LONG_NAME)
    start = datetime(2030, 1, 2, 9, tzinfo=UTC)
    mailing = factories.make_mailing(
        owner,
        message=message,
        frequency="weekly",
        status="started",
        start_at=start,
        next_send_at=datetime(2030, 1, 9, 9, tzinfo=UTC),
    )
    run = factories.make_run(mailing, scheduled_for=start)
    for number in range(3):
        client = factories.make_client(owner, f"c{number}@example.com")
        factories.make_delivery(run, client, status="failed" if number else "sent")
    factories.make_mailing(owner, is_active=False)  # "disabled", the longest status

    page = _opened(open_page, ui, owner.email, "/mailings/", viewport=PHONE)

    row = page.get_by_role("row").filter(has_text=LONG_NAME)
    _assert_on_screen(page, row.get_by_role("link", name=LONG_NAME))
    _assert_on_screen(page, row.get_by_text(ui.t("started"), exact=True))
    for shown in (
        ui.t("Weekly"),
        "2030-01-09 09:00",
        ui.tn("%(num)s sent", "%(num)s sent", 1),
        ui.tn("%(num)s failed or unknown", "%(num)s failed or unknown", 2),
    ):
        _assert_on_screen(page, row.get_by_text(shown).locator("visible=true"))
    disabled = page.get_by_role("row").filter(has_text=ui.t("disabled"))
    _assert_on_screen(page, disabled.get_by_text(ui.t("disabled"), exact=True))
    _assert_on_screen(page, disabled.get_by_text(ui.t("not sent yet")).locator("visible=true"))
    _assert_table_fits(page)
    _assert_no_sideways_scroll(page)


def test_message_list_on_a_phone_keeps_the_edit_buttons(open_page, ui):
    owner = factories.make_user("writer@example.com", locale=ui.lang)
    factories.make_message(owner, LONG_NAME, body_html="<p>Hi</p>")
    factories.make_message(owner, "Short")
    page = _opened(open_page, ui, owner.email, "/messages/", viewport=PHONE)
    rows = page.get_by_role("row").filter(has=page.get_by_role("link", name=ui.t("Edit")))
    expect(rows).to_have_count(2)
    for row in rows.all():
        _assert_on_screen(page, row.get_by_role("link").first)
        _assert_on_screen(page, row.get_by_role("link", name=ui.t("Edit")))
    _assert_table_fits(page)
    _assert_no_sideways_scroll(page)


@pytest.mark.parametrize("path", ["/attempts/", "/manager/attempts"])
def test_attempt_logs_on_a_phone_keep_the_result_and_the_servers_reply(
    open_page, ui, long_named_owner, path
):
    """The time, the result and the client; the reply goes under the client, and a long
    address in it wraps."""
    long_named = db.session.scalar(db.select(Client).filter_by(email=LONG_EMAIL))
    run = factories.make_run(factories.make_mailing(long_named_owner, clients=[long_named]))
    reply = f"5.1.1 <{'u' * 64}@example.com>: Recipient address rejected: User unknown"
    factories.make_attempt(run, long_named, success=False, reply=reply)
    viewer = long_named_owner
    if path.startswith("/manager"):
        viewer = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, viewer.email, path, viewport=PHONE)

    row = page.get_by_role("row").filter(has_text=LONG_NAME)
    _assert_on_screen(page, row.get_by_text(ui.t("failure"), exact=True))
    _assert_on_screen(page, row.get_by_text(LONG_NAME))
    _assert_on_screen(page, row.get_by_text("Recipient address rejected").locator("visible=true"))
    _assert_table_fits(page)
    _assert_no_sideways_scroll(page)


def test_users_screen_on_a_phone_keeps_every_status_and_its_button(open_page, ui, long_named_owner):
    """In Russian "заблокирован" and "Разблокировать" are wide: the status goes under the
    email, beside which the button stays."""
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    factories.make_user(
        "blocked@example.com",
        is_blocked=True,
        blocked_at=utcnow(),
        blocked_by=manager,
        block_reason=LONG_NAME,  # who, when and why go under the badge
    )
    factories.make_user("new@example.com", confirmed=False)
    page = _opened(open_page, ui, manager.email, "/manager/users", viewport=PHONE)
    for email, status, role, name in (
        ("blocked@example.com", "blocked", "button", "Unblock"),
        ("new@example.com", "unconfirmed", "link", "Block"),
        (LONG_EMAIL, "active", "link", "Block"),
    ):
        row = page.get_by_role("row").filter(has_text=email)
        _assert_on_screen(page, row.get_by_text(ui.t(status), exact=True).locator("visible=true"))
        _assert_on_screen(page, row.get_by_role(role, name=ui.t(name)))
    _assert_table_fits(page)
    _assert_no_sideways_scroll(page)


@pytest.mark.parametrize("viewport", [TABLET, SMALL_LAPTOP], ids=["tablet", "small laptop"])
@pytest.mark.parametrize("path", ["/manager/users", "/manager/mailings"])
def test_manager_lists_keep_their_buttons_on_a_tablet_and_a_small_laptop(
    open_page, ui, long_named_owner, path, viewport
):
    factories.make_mailing(long_named_owner)
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    page = _opened(open_page, ui, manager.email, path, viewport=viewport)
    row = page.get_by_role("row").filter(has_text=LONG_EMAIL)
    _assert_on_screen(
        page,
        row.get_by_role("link", name=ui.t("Block"))
        if "users" in path
        else row.get_by_role("button", name=ui.t("Disable")),
    )


def test_admin_user_list_keeps_every_column_on_screen_beside_a_long_name(
    open_page, ui, long_named_owner
):
    superuser = factories.make_user("root@example.com", is_superuser=True, locale=ui.lang)
    page = _opened(open_page, ui, superuser.email, "/admin/users/")

    _assert_on_screen(page, page.locator("th.col-created_at"))
    _assert_no_sideways_scroll(page)


@pytest.mark.parametrize(
    ("path", "kept"),
    [("/admin/articles/", ("title", "is_published")), ("/admin/users/", ("email", "roles"))],
)
def test_admin_lists_on_a_phone_keep_the_columns_one_works_from_within_the_screen(
    open_page, ui, long_named_owner, path, kept
):
    """The other columns are on each record's details page; the table scrolls no more."""
    factories.make_article(title="A fairly long article title about mailing lists")
    staff = factories.make_user(
        "root@example.com", roles=["content-manager"], is_superuser=True, locale=ui.lang
    )
    page = _opened(open_page, ui, staff.email, path, viewport=PHONE)

    for column in kept:
        _assert_on_screen(page, page.locator(f"th.col-{column}"))
    row = page.locator(".model-list tbody tr").first
    for icon in row.locator(".list-buttons-column a, .list-buttons-column button").all():
        _assert_on_screen(page, icon)
    _assert_table_fits(page)
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


def test_report_on_a_phone_shows_what_became_of_the_emails_without_sideways_scroll(
    open_page, ui, long_named_owner
):
    """What became of the emails (sent, failed, cancelled), the status and the last run
    move under a long subject, on the screen; the other columns give way."""
    people = db.session.scalars(db.select(Client).filter_by(owner_id=long_named_owner.id)).all()
    people += [factories.make_client(long_named_owner, f"c{n}@example.com") for n in range(8)]
    message = factories.make_message(long_named_owner, LONG_NAME)
    mailing = factories.make_mailing(long_named_owner, message=message, is_active=False)
    run = factories.make_run(mailing, scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC))
    statuses = ["sent"] * 3 + ["failed"] * 2 + ["cancelled"] * 5
    for person, status in zip(people, statuses, strict=True):
        factories.make_delivery(run, person, status=status)

    page = _opened(open_page, ui, long_named_owner.email, "/reports/", viewport=PHONE)

    row = page.locator("#report").get_by_role("row").filter(has_text=LONG_NAME)
    for figure, count in (("%(num)s sent", 3), ("%(num)s failed", 2), ("%(num)s cancelled", 5)):
        shown = ui.tn(figure, figure, count)
        _assert_on_screen(page, row.get_by_text(shown, exact=True).locator("visible=true"))
    _assert_on_screen(page, row.get_by_text(ui.t("disabled")).locator("visible=true"))
    when = ui.t("Last run: %(when)s.", when="2030-01-02 09:00")
    _assert_on_screen(page, row.get_by_text(when).locator("visible=true"))
    # The totals: three cards a row, all on the screen.
    _assert_on_screen(page, page.locator("[data-total='7']"))
    _assert_no_sideways_scroll(page)


# -- keyboard --------------------------------------------------------------------------


def _focused(page: Page) -> str:
    """The focused element as a selector-ish label: its tag, then its id or link target."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')"
        " + (e.getAttribute('href') ? '[href=' + e.getAttribute('href') + ']' : ''); }"
    )


def test_first_tab_offers_a_skip_link_that_takes_the_focus_to_the_content(open_page, ui):
    owner = factories.make_user("kate@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com")
    page = _opened(open_page, ui, owner.email, "/clients/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=ui.t("Skip to content"))
    expect(skip).to_be_focused()
    _assert_on_screen(page, skip)  # seen, not only heard: it shows while it has focus
    page.keyboard.press("Enter")

    assert _focused(page) == "main#content"
    # The next Tab goes on inside the page's content, not back through the navbar.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")
    expect(skip).not_to_be_in_viewport()


def _rgba(css: str) -> tuple[float, float, float, float]:
    r, g, b, *alpha = (float(n) for n in re.findall(r"[\d.]+", css)[:4])
    return r, g, b, alpha[0] if alpha else 1.0


def _luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(value) for value in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(ring: str, background: str) -> float:
    """WCAG contrast of a (maybe translucent) ring colour, laid over the background."""
    *under, _ = _rgba(background)
    *over, alpha = _rgba(ring)
    seen = [alpha * top + (1 - alpha) * bottom for top, bottom in zip(over, under, strict=True)]
    lighter, darker = sorted((_luminance(seen), _luminance(under)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _focus_ring(locator: Locator) -> tuple[str, float]:
    """The colour and width of the element's focus ring: its outline, else its box-shadow."""
    style = locator.evaluate(
        "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth,"
        " s.outlineColor, s.boxShadow]; }"
    )
    outline_style, outline_width, outline_color, shadow = style
    if outline_style != "none" and float(outline_width.removesuffix("px")) > 0:
        return outline_color, float(outline_width.removesuffix("px"))
    if shadow == "none":
        return "rgba(0, 0, 0, 0)", 0.0
    color = re.match(r"rgba?\([^)]*\)", shadow).group(0)
    widths = [float(n) for n in re.findall(r"(-?[\d.]+)px", shadow[len(color) :])]
    return color, max(widths, default=0.0)


def test_navbar_links_show_a_focus_ring_that_stands_out_on_the_blue(open_page, ui):
    """Non-text contrast (WCAG 1.4.11): a focus ring needs 3:1 against what surrounds it.
    Bootstrap's, a pale blue shadow, has about 1:1 on the navbar's blue."""
    owner = factories.make_user("kate@example.com", locale=ui.lang)
    page = _opened(open_page, ui, owner.email, "/clients/")
    navbar = page.get_by_role("navigation", name=ui.t("Main navigation"))
    background = navbar.evaluate("e => getComputedStyle(e).backgroundColor")

    for selector in (".navbar-brand", ".navbar .nav-link[href='/mailings/']"):
        tab_to(page, selector)
        color, width = _focus_ring(page.locator(selector))
        assert width >= 2, f"{selector} has a {width}px focus ring"
        contrast = _contrast(color, background)
        assert contrast >= 3, f"{selector}'s ring {color} on {background} is {contrast:.1f}:1"


@pytest.mark.parametrize("viewport", [TABLET, DESKTOP], ids=["tablet", "desktop"])
def test_the_navbar_of_every_role_fits_the_screen_with_the_account_menu_in_reach(
    open_page, ui, viewport
):
    """With every role's links (a superuser's in Russian, the longest), the navbar used to
    run 300px past a tablet's edge, and the account menu with it."""
    everyone = factories.make_user(
        "root@example.com", roles=["manager", "content-manager"], is_superuser=True, locale=ui.lang
    )
    page = _opened(open_page, ui, everyone.email, "/", viewport=viewport)
    _assert_no_sideways_scroll(page)
    if viewport == TABLET:
        page.locator(".navbar-toggler").click()
    _assert_on_screen(page, page.get_by_role("button", name=everyone.email))


def test_a_mailings_runs_on_a_phone_keep_what_became_of_each_within_the_screen(open_page, ui):
    owner = factories.make_user("runs@example.com", locale=ui.lang)
    mailing = factories.make_mailing(owner, frequency="weekly")
    for _ in range(3):
        factories.make_run(mailing, forced=True, finished_at=utcnow())
    page = _opened(open_page, ui, owner.email, f"/mailings/{mailing.id}", viewport=PHONE)
    rows = page.locator("tr[data-run]")
    expect(rows).to_have_count(3)
    for row in rows.all():
        row.scroll_into_view_if_needed()
        _assert_on_screen(page, row.get_by_role("link", name=ui.t("Attempts")))
        _assert_on_screen(page, row.locator("[data-count=cancelled]:visible"))
    _assert_no_sideways_scroll(page)
    # Each label of the details on one line ("Периодичность" broke in two beside its value).
    label = page.locator("main dl dt").filter(has_text=ui.t("Frequency"))
    assert label.bounding_box()["height"] < 2 * _line_height(label)


def _line_height(locator: Locator) -> float:
    return locator.evaluate("node => parseFloat(getComputedStyle(node).lineHeight)")


def _lines(cell: Locator) -> int:
    """How many lines the cell's text takes: its lines' tops, since a cell's height holds
    its padding and its row's (`_line_height` suits an element that is its text alone)."""
    return cell.evaluate(
        "cell => { const range = document.createRange(); range.selectNodeContents(cell);"
        " return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; }"
    )


@pytest.mark.parametrize("viewport", [TABLET, DESKTOP], ids=["tablet", "desktop"])
def test_admin_lists_keep_an_everyday_address_and_name_on_one_line(open_page, ui, viewport):
    """The other columns took the room and split "writer@example.co|m" and "Dem|o Us|er"."""
    writer = factories.make_user(
        "writer@example.com",
        roles=[CONTENT_MANAGER],
        full_name="Demo Writer",
        is_superuser=True,
        locale=ui.lang,
    )
    factories.make_article("A title long enough to take the row's room " * 3, author=writer)

    page = _opened(open_page, ui, writer.email, "/admin/articles/", viewport=viewport)
    author = page.locator("td.col-author").first
    expect(author).to_have_text("writer@example.com")
    assert _lines(author) == 1

    page.goto("/admin/users/")
    assert _lines(page.locator("td.col-email").first) == 1
    assert _lines(page.locator("td.col-full_name").first) == 1


@pytest.fixture
def everyday_attempt(ui):
    """A failed attempt of everyday length: its owner, its client and a manager."""
    owner = factories.make_user("olga.sokolova@example.com", locale=ui.lang)
    client = factories.make_client(owner, "dmitry.kuznetsov@example.org", full_name="Дмитрий")
    mailing = factories.make_mailing(owner, name="A name long enough to take room " * 2)
    reply = "5.1.1 <dmitry.kuznetsov@example.org>: Recipient address rejected: User unknown"
    factories.make_attempt(factories.make_run(mailing), client, success=False, reply=reply)
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)
    return owner, client, manager


@pytest.mark.parametrize("viewport", [SMALL_LAPTOP, DESKTOP], ids=["small laptop", "desktop"])
def test_attempt_logs_and_all_mailings_keep_an_everyday_address_on_one_line(
    open_page, ui, everyday_attempt, viewport
):
    """The other columns took the room and split "user@example.co|m" and a client's
    "dmitry.kuznetsov@exa|mple.org" at 1,200 px."""
    owner, client, manager = everyday_attempt
    page = _opened(open_page, ui, owner.email, "/attempts/", viewport=viewport)
    _assert_one_line(page, client.email)
    page = _opened(open_page, ui, manager.email, "/manager/attempts", viewport=viewport)
    _assert_one_line(page, client.email)
    _assert_one_line(page, owner.email)
    page.goto("/manager/mailings")
    _assert_one_line(page, owner.email)


def test_attempt_logs_fit_a_tablet(open_page, ui, everyday_attempt):
    """Up to 991 px the server's reply goes under the client, as on a phone: in a column
    of its own it pushed the mailing past the screen's edge, and the table scrolled."""
    owner, client, manager = everyday_attempt
    for user, path in ((owner, "/attempts/"), (manager, "/manager/attempts")):
        page = _opened(open_page, ui, user.email, path, viewport=TABLET)
        _assert_table_fits(page)
        _assert_one_line(page, client.email)


def _lines_of(cell: Locator, text: str) -> int:
    """How many lines `text` takes in the cell, whatever else the cell holds."""
    return cell.evaluate(
        """(cell, text) => {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            while (walker.nextNode()) {
                const node = walker.currentNode, at = node.data.indexOf(text);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + text.length);
                return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
            }
            return 0;
        }""",
        text,
    )


def _assert_one_line(page: Page, address: str) -> None:
    """The address shows once on the page, in a table cell, unsplit."""
    shown = page.locator("td").get_by_text(address, exact=True).locator("visible=true")
    expect(shown).to_have_count(1)
    assert _lines(shown) == 1, f"{address} is split on {page.url}"


def test_the_managers_list_of_mailings_keeps_each_next_send_date_whole(open_page, ui):
    """A date and time that wrap break between the two, not inside the date (2030-01-\\n09)."""
    owner = factories.make_user("dmitry.kuznetsov@example.org", locale=ui.lang)
    for number in range(3):
        factories.make_mailing(
            owner,
            name=f"Ежемесячный отчёт для постоянных клиентов {number}",
            frequency="monthly",
            status="started",
            next_send_at=datetime(2030, 1, 9, 9, tzinfo=UTC),
        )
    # Its status says who disabled it and when: the widest status.
    factories.make_mailing(owner, is_active=False, disabled_by=owner, disabled_at=utcnow())
    manager = factories.make_user("max@example.com", roles=["manager"], locale=ui.lang)

    page = _opened(open_page, ui, manager.email, "/manager/mailings", viewport=DESKTOP)

    dates = page.locator("td").filter(has_text=re.compile(r"^\s*2030-01-09 09:00\s*$"))
    expect(dates).to_have_count(3)
    for cell in dates.all():
        assert _lines_of(cell, "2030-01-09") == 1, f"{cell.inner_text()!r} breaks in its date"


@pytest.mark.parametrize("viewport", [SMALL_LAPTOP, DESKTOP], ids=["small laptop", "desktop"])
def test_the_users_screen_keeps_an_everyday_address_whole_beside_a_block_reason(
    open_page, ui, viewport
):
    """Who blocked a user, when and why widened the status column, which split
    "manager@example.c|om"."""
    manager = factories.make_user("dmitry.kuznetsov@example.org", roles=["manager"])
    factories.make_user(
        "olga.sokolova@example.com",
        is_blocked=True,
        blocked_at=utcnow(),
        blocked_by=manager,
        block_reason="Three recipients complained of spam in one week",
    )

    page = _opened(open_page, ui, manager.email, "/manager/users", viewport=viewport)

    for address in ("olga.sokolova@example.com", manager.email):
        cell = page.get_by_role("row").filter(has_text=address).locator("td").first
        assert _lines_of(cell, address) == 1, f"{address} is split"


def test_an_import_preview_on_a_phone_shows_why_a_row_is_marked(open_page, ui, tmp_path):
    """Its Problem column lay beyond the screen: the row was marked, the reason not seen."""
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("email,name,comment\nnot-an-address,Вера Павлова,с выставки\n")
    page = _opened(open_page, ui, owner.email, "/clients/import", viewport=PHONE)
    page.get_by_label(ui.t("Spreadsheet or CSV file")).set_input_files(csv_file)
    page.get_by_role("button", name=ui.t("Upload and preview")).click()

    row = page.locator("#preview-rows + .table-responsive tr").filter(has_text="not-an-address")
    _assert_on_screen(page, row.locator("[data-problem]"))
    _assert_on_screen(page, row.get_by_text("Вера Павлова").locator("visible=true"))
    _assert_no_sideways_scroll(page)


NARROWEST = {"width": 320, "height": 640}  # WCAG's reflow width (1280 px at 400% zoom)


def test_a_table_wider_than_a_narrow_screen_scrolls_in_a_box_the_keyboard_reaches(
    open_page, ui, everyday_attempt
):
    """The managers' log at 320 px scrolls in its box, which held nothing to Tab to."""
    _owner, _client, manager = everyday_attempt
    page = _opened(open_page, ui, manager.email, "/manager/attempts", viewport=NARROWEST)
    box = page.locator(".table-responsive")
    expect(box).to_have_attribute("tabindex", "0")
    expect(box).to_have_attribute("role", "region")
    box.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("box => box.scrollLeft > 0", arg=box.element_handle())
    _assert_no_sideways_scroll(page)


def test_a_clients_attempts_and_the_logins_fit_a_narrow_screen(open_page, ui, everyday_attempt):
    owner, client, _manager = everyday_attempt
    page = _opened(open_page, ui, owner.email, f"/clients/{client.id}/edit", viewport=NARROWEST)
    expect(page.locator("#client-attempts")).to_be_visible()
    _assert_no_sideways_scroll(page)
    page.goto("/auth/logins")
    _assert_no_sideways_scroll(page)
