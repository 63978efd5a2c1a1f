"""The colour theme: the system's, light or dark, until the footer's menu chooses one for
this browser."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories
from tests.e2e.ui import log_in

DARK_BODY = "rgb(33, 37, 41)"  # Bootstrap's dark theme
LIGHT_BODY = "rgb(255, 255, 255)"


def _body_colour(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_pages_follow_the_systems_theme_until_one_is_chosen_which_this_browser_keeps(open_page, ui):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    page = open_page(ui.lang, color_scheme="dark")
    page.goto("/")
    assert _body_colour(page) == DARK_BODY
    theme = page.get_by_label(ui.t("Theme"))
    expect(theme).to_have_value("auto")

    theme.select_option(label=ui.t("Light"))
    assert _body_colour(page) == LIGHT_BODY
    log_in(page, ui, owner.email, factories.PASSWORD)  # other pages, this browser: kept
    assert _body_colour(page) == LIGHT_BODY
    expect(page.get_by_label(ui.t("Theme"))).to_have_value("light")
    ui.look(page)

    page.get_by_label(ui.t("Theme")).select_option(label=ui.t("As the system"))
    assert _body_colour(page) == DARK_BODY
    page.emulate_media(color_scheme="light")  # the system changes: the page follows
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    page.reload()
    assert _body_colour(page) == LIGHT_BODY
    ui.assert_translated()


def test_a_choice_made_in_one_tab_changes_the_others(open_page):
    page = open_page("en", color_scheme="light")
    page.goto("/")
    other = page.context.new_page()
    other.goto("/blog/")
    assert _body_colour(other) == LIGHT_BODY

    page.get_by_label("Theme").select_option(label="Dark")

    expect(other.locator("html")).to_have_attribute("data-bs-theme", "dark")
    assert _body_colour(other) == DARK_BODY


def _contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two computed colours ("rgb(r, g, b)")."""

    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_buttons_are_readable_on_the_dark_theme(open_page, ui):
    """Bootstrap's outline buttons kept their light-theme colours: 3.3:1 on dark."""
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    factories.make_client(owner, "anna@example.com")
    page = open_page(ui.lang, color_scheme="dark")
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    assert _body_colour(page) == DARK_BODY
    for selector in (".btn-outline-primary", ".btn-outline-secondary", ".btn-outline-danger"):
        # WCAG exempts a disabled control ("Delete ticked clients" while none is ticked).
        button = page.locator(f"{selector}:not(:disabled)").first
        colour = button.evaluate("e => getComputedStyle(e).color")
        assert _contrast(colour, DARK_BODY) >= 4.5, selector
