"""What a screen reader or keyboard user meets: the page's language, names that match what
is shown, where one is in the site, and wide boxes that the keyboard can scroll.

The pages are read as HTML (no browser): the journeys in tests/e2e check the rest
(every control labelled, Tab order) on the pages as a browser shows them.
"""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest

from tests import factories

ADMIN_PAGES = ("/admin/", "/admin/articles/", "/admin/articles/new/", "/admin/users/")
# Elements that have no end tag: they never wrap text.
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag = tag
        self.attrs = attrs
        self.text = ""

    def __getitem__(self, name: str) -> str | None:
        return self.attrs.get(name)


class _Elements(HTMLParser):
    """Every element of a page with its attributes and all the text inside it."""

    def __init__(self):
        super().__init__()
        self.found: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.found.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data):
        for element in self.open:
            element.text += data


def elements(page: str) -> list[Element]:
    parser = _Elements()
    parser.feed(page)
    return parser.found


def html_lang(page: str) -> str | None:
    return next(element["lang"] for element in elements(page) if element.tag == "html")


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("language", ["en", "ru"])
def test_admin_pages_say_the_language_they_are_written_in(client, login, path, language):
    """Flask-Admin's own <html> says none: a screen reader would read Russian in English."""
    admin = factories.make_user("admin@mailing.com", is_superuser=True, locale=language)
    response = login(admin).get(path)
    assert response.status_code == 200
    assert html_lang(response.text) == language


def test_the_language_menu_is_called_by_the_language_it_shows(client):
    """A speech user says the word they see ("English"); its name must hold it."""
    page = client.get("/", headers={"Accept-Language": "en"}).text
    [menu] = [
        element
        for element in elements(page)
        if element["data-bs-toggle"] == "dropdown" and "English" in element.text
    ]
    assert menu["aria-label"] is None  # a name of its own would hide the text shown
    assert " ".join(menu.text.split()) == "Language: English"


@pytest.mark.parametrize(
    ("path", "current"),
    [("/clients/", "page"), ("/clients/new", "true"), ("/clients/import", "true")],
)
def test_the_navbar_marks_the_area_the_page_is_in(client, login, user, path, current):
    page = login(user).get(path).text
    marked = [
        (element.text.strip(), element["aria-current"])
        for element in elements(page)
        if element.tag == "a" and element["aria-current"]
    ]
    assert marked == [("Clients", current)]


def _reachable_and_named(box: Element, page: list[Element]) -> bool:
    """A Tab stop that a screen reader announces by a name (its own, or a heading's)."""
    if box["tabindex"] != "0" or box["role"] != "region":
        return False
    if box["aria-label"]:
        return True
    named_by = [element for element in page if element["id"] == box["aria-labelledby"]]
    return bool(named_by and named_by[0].text.strip())


def test_the_csv_example_wider_than_a_phone_can_be_scrolled_from_the_keyboard(login, user):
    page = elements(login(user).get("/clients/import").text)
    [example] = [element for element in page if element["id"] == "csv-example"]
    assert _reachable_and_named(example, page)


def test_the_import_preview_table_can_be_scrolled_from_the_keyboard(login, user):
    csv = b"email,full name,comment\nanna@example.com,Anna Ivanova,met at the fair\n"
    response = login(user).post(
        "/clients/import",
        data={"file": (io.BytesIO(csv), "clients.csv")},
        content_type="multipart/form-data",
    )
    page = elements(response.text)
    [box] = [element for element in page if "table-responsive" in (element["class"] or "")]
    assert _reachable_and_named(box, page)


def test_each_rows_button_says_what_it_acts_on(login, user):
    """Fifty buttons all named "Delete" (or "Log out") in a screen reader's list of them."""
    for email in ("anna@example.com", "boris@example.com"):
        factories.make_client(user, email)
    page = elements(login(user).get("/clients/").text)
    names = [e["aria-label"] for e in page if e.tag == "button" and e.text.strip() == "Delete"]
    assert "Delete anna@example.com" in names  # the name says what it shows first (WCAG 2.5.3)
    assert "Delete boris@example.com" in names


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/admin/articles/", "Articles · Mailer admin"),
        ("/admin/articles/new/", "New record · Articles · Mailer admin"),
        ("/admin/articles/edit/?id={id}", "Edit · Articles · Mailer admin"),
        ("/admin/articles/details/?id={id}", "Details · Articles · Mailer admin"),
    ],
)
def test_admin_pages_have_a_main_a_heading_a_skip_link_and_a_title_of_their_own(
    client, login, superuser, path, title
):
    article = factories.make_article("Spring")
    page = elements(login(superuser).get(path.format(id=article.id)).text)
    [title_element] = [e for e in page if e.tag == "title"]
    assert title_element.text.strip() == title
    [main] = [e for e in page if e.tag == "main"]
    assert main["id"] == "content"
    assert [e.text.strip() for e in page if e.tag == "h1"] == ["Articles"]
    first_link = next(e for e in page if e.tag == "a")
    assert (first_link["href"], first_link.text) == ("#content", "Skip to content")


def test_the_admin_panels_first_page_has_one_heading(client, login, superuser):
    page = elements(login(superuser).get("/admin/").text)
    assert [e.text.strip() for e in page if e.tag == "h1"] == ["Admin panel"]
