"""The owner's message screens: list, create (or copy), edit, delete, preview for a chosen
client."""

from __future__ import annotations

import html
import re

import pytest

from mailer.extensions import db
from mailer.models import Client, Message
from tests import factories


def _messages(owner) -> list[Message]:
    db.session.expire_all()
    return Message.owned_by(owner).order_by(Message.id).all()


def test_empty_list_says_how_to_start(login, user):
    page = login(user).get("/messages/")
    assert "No messages yet" in page.text
    assert "/messages/new" in page.text


def test_list_shows_only_own_messages(login, user, other_user):
    factories.make_message(user, "Mine")
    factories.make_message(other_user, "Theirs")
    page = login(user).get("/messages/").text
    assert "Mine" in page
    assert "Theirs" not in page


def test_list_says_how_many_mailings_use_each_message(login, user):
    used = factories.make_message(user, "Used twice")
    unused = factories.make_message(user, "Unused")
    for _ in range(2):
        factories.make_mailing(user, message=used)

    page = login(user).get("/messages/").text

    def uses(message) -> str:
        row = page[page.index(f'href="/messages/{message.id}"') :]
        return re.search(r"data-used-by=\"(\d+)\">(.*?)</td>", row).groups()

    assert uses(used) == ("2", "2 mailings")
    assert uses(unused) == ("0", '<span class="text-body-secondary">none</span>')


def test_list_finds_messages_by_subject_or_text_in_any_case(login, user, other_user):
    factories.make_message(user, "Весенние новости", body_text="Скидки до 50%")
    factories.make_message(user, "Weekly digest", body_text="Spring is here")
    factories.make_message(user, "Invoice", body_text="Pay by Friday")
    factories.make_message(other_user, "Spring for them")
    browser = login(user)

    def listed(search: str) -> list[str]:
        page = browser.get("/messages/", query_string={"q": search}).text
        return sorted(re.findall(r'<a href="/messages/\d+">([^<]+)</a>', page))

    assert listed("SPRING") == ["Weekly digest"]  # in the text; not another user's
    assert listed("весен") == ["Весенние новости"]
    assert listed("0%") == ["Весенние новости"]  # % as typed
    assert listed("") == ["Invoice", "Weekly digest", "Весенние новости"]
    empty = browser.get("/messages/?q=nothing").text
    assert "No messages match “nothing”." in empty
    assert "No messages yet" not in empty


def test_create_message_with_placeholders(login, user):
    response = login(user).post(
        "/messages/new",
        data={
            "subject": "Hello {{ client.full_name }}",
            "body_text": "Dear {{ client.full_name }},\nbye: {{ unsubscribe_url }}",
            "body_html": "<p>Dear {{ client.full_name }}</p>",
        },
    )
    assert response.status_code == 302
    [message] = _messages(user)
    assert message.subject == "Hello {{ client.full_name }}"
    assert message.body_html == "<p>Dear {{ client.full_name }}</p>"


def test_bad_template_is_refused_on_its_field_with_the_line_and_the_text_kept(login, user):
    response = login(user).post(
        "/messages/new",
        data={
            "subject": "Hi",
            "body_text": "line one\nHello {{ client.phone }}",
            "body_html": "<p>{% if %}</p>",
        },
    )
    assert response.status_code == 200
    assert "line 2" in response.text
    assert "phone" in response.text
    assert "line 1" in response.text  # the HTML body's syntax error
    assert "Hello {{ client.phone }}" in response.text
    assert response.text.count("is-invalid") == 2
    assert _messages(user) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            "Hi {{ client.phone }}",
            "line 1: “client” has no field “phone”"
            " (use client.email, client.full_name or client.comment)",
        ),
        ("{{ fullname }}", "“fullname” is unknown: a message can use client and unsubscribe_url"),
        ("{% if client.comment %}\nVIP", "line 1: the template ends before {% endif %}"),
        ("Dear {{ client.full_name", "the template ends before a {{ … }} or {% … %} is closed"),
        ("{{ client.email | shout }}", "line 1: unknown filter “shout”"),
        ("Hi {{ client }}", "line 1: “client” alone prints no text: use client.email"),
        ("{% for x in y %}{% endfor %}", "line 1: a message cannot use loops ({% for %})"),
        ("{% if x %}{% endfor %}", "unknown tag “endfor”: {% endif %} is expected first"),
    ],
)
def test_a_template_error_says_what_to_change(login, user, body, says):
    response = login(user).post("/messages/new", data={"subject": "Hi", "body_text": body})
    assert response.status_code == 200
    assert says in html.unescape(response.text)
    assert _messages(user) == []


def test_template_reaching_python_internals_is_refused(login, user):
    response = login(user).post(
        "/messages/new",
        data={"subject": "Hi", "body_text": "{{ client.__class__.__mro__ }}"},
    )
    assert response.status_code == 200
    assert "is-invalid" in response.text
    assert _messages(user) == []


def test_empty_subject_and_body_are_refused(login, user):
    response = login(user).post("/messages/new", data={"subject": "", "body_text": ""})
    assert response.status_code == 200
    assert response.text.count("is-invalid") == 2


def test_a_subject_or_body_of_spaces_alone_is_refused_and_kept_as_typed(login, user):
    response = login(user).post(
        "/messages/new", data={"subject": "   ", "body_text": " \r\n ", "body_html": "<p>Hi</p>"}
    )
    assert response.status_code == 200
    assert response.text.count("is-invalid") == 2
    assert "&lt;p&gt;Hi&lt;/p&gt;</textarea>" in response.text
    assert _messages(user) == []


def test_an_html_body_of_spaces_alone_is_no_html_part(login, user):
    browser = login(user)
    browser.post(
        "/messages/new", data={"subject": "Plain", "body_text": "Text", "body_html": "  \r\n  "}
    )
    assert _messages(user)[0].body_html == ""
    listed = browser.get("/messages/").text
    html_column = re.search(r'<td class="d-none d-md-table-cell">([^<]*)</td>', listed).group(1)
    assert html_column == "—"


@pytest.mark.parametrize("path", ["/messages/new", "/messages/{id}/edit"])
def test_an_empty_subject_and_a_bad_template_are_both_said_on_one_submit(login, user, path):
    message = factories.make_message(user, "Old")
    response = login(user).post(
        path.format(id=message.id), data={"subject": "", "body_text": "{% if x %}never closed"}
    )
    assert response.status_code == 200
    assert 'id="subject-error"' in response.text
    assert 'id="body_text-error"' in response.text
    assert _messages(user)[0].subject == "Old"


def test_edit_message_saves_and_a_bad_edit_keeps_the_old_text(login, user):
    message = factories.make_message(user, "Old", body_text="old body")
    browser = login(user)
    bad = browser.post(
        f"/messages/{message.id}/edit", data={"subject": "New", "body_text": "{{ oops( }}"}
    )
    assert bad.status_code == 200
    assert "{{ oops( }}" in bad.text
    assert _messages(user)[0].body_text == "old body"
    good = browser.post(
        f"/messages/{message.id}/edit", data={"subject": "New", "body_text": "new body"}
    )
    assert good.status_code == 302
    assert (_messages(user)[0].subject, _messages(user)[0].body_text) == ("New", "new body")


def test_editing_a_message_mailings_use_says_their_next_sends_change(login, user):
    message = factories.make_message(user, "News")
    unused = factories.make_message(user, "Draft")
    factories.make_mailing(user, message=message)
    factories.make_mailing(user, message=message)
    browser = login(user)

    assert "2 mailings use this message: what you save here is what their next sends" in (
        browser.get(f"/messages/{message.id}/edit").text
    )
    assert "use this message" not in browser.get(f"/messages/{unused.id}/edit").text


def test_delete_is_a_post_with_a_confirmation(login, user):
    message = factories.make_message(user)
    browser = login(user)
    assert browser.get(f"/messages/{message.id}/delete").status_code == 405
    page = browser.get(f"/messages/{message.id}").text
    assert f'action="/messages/{message.id}/delete"' in page
    assert "data-confirm=" in page
    assert browser.post(f"/messages/{message.id}/delete").status_code == 302
    assert _messages(user) == []


def test_message_used_by_a_mailing_cannot_be_deleted(login, user):
    message = factories.make_message(user)
    factories.make_mailing(user, message=message)
    browser = login(user)
    page = browser.get(f"/messages/{message.id}").text
    assert f'action="/messages/{message.id}/delete"' not in page  # no confirm, then a refusal
    assert "used by 1 mailing; delete or change it first." in page  # said beside the button
    response = browser.post(f"/messages/{message.id}/delete", follow_redirects=True)
    assert "used by 1 mailing;" in response.text
    assert len(_messages(user)) == 1


def test_a_messages_pages_name_the_mailings_that_use_it(login, user, monkeypatch):
    monkeypatch.setattr("mailer.mailings.message_services.USING_SHOWN", 2)
    message = factories.make_message(user, "News")
    first, second, third = (
        factories.make_mailing(user, message=message, name=name) for name in ("A", "B", "C")
    )
    browser = login(user)

    for path in (f"/messages/{message.id}", f"/messages/{message.id}/edit"):
        page = browser.get(path).text
        named = page[page.index('id="using"') :]
        assert f'href="/mailings/{third.id}">C</a>' in named  # the newest first
        assert f'href="/mailings/{second.id}">B</a>' in named
        assert f'href="/mailings/{first.id}"' not in named
        assert "and 1 more" in named


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/messages/{id}"),
        ("get", "/messages/{id}/edit"),
        ("post", "/messages/{id}/edit"),
        ("post", "/messages/{id}/delete"),
        ("get", "/messages/new?copy={id}"),
        ("post", "/messages/new?copy={id}"),
    ],
)
def test_another_users_message_is_not_found(login, user, other_user, method, path):
    theirs = factories.make_message(other_user, "Theirs")
    response = getattr(login(user), method)(
        path.format(id=theirs.id), data={"subject": "Stolen", "body_text": "x"}
    )
    assert response.status_code == 404
    assert _messages(other_user)[0].subject == "Theirs"
    assert _messages(user) == []


def test_a_copy_starts_as_the_original_and_is_saved_as_a_new_message(login, user):
    original = factories.make_message(
        user, "Spring news", body_text="Dear {{ client.full_name }}", body_html="<p>Dear</p>"
    )
    browser = login(user)
    preview = browser.get(f"/messages/{original.id}").text
    assert f'href="/messages/new?copy={original.id}"' in preview

    form = browser.get(f"/messages/new?copy={original.id}").text

    assert "A copy of “Spring news”: change what you like" in form
    assert 'value="Spring news"' in form
    assert "Dear {{ client.full_name }}" in form
    assert "&lt;p&gt;Dear&lt;/p&gt;" in form
    assert f'href="/messages/{original.id}">Cancel' in form
    assert len(_messages(user)) == 1  # nothing saved by opening it
    response = browser.post(
        f"/messages/new?copy={original.id}",
        data={"subject": "Summer news", "body_text": "Dear {{ client.full_name }}"},
    )
    assert response.status_code == 302
    assert [m.subject for m in _messages(user)] == ["Spring news", "Summer news"]


def test_a_draft_is_previewed_for_the_first_client_and_nothing_is_saved(login, user, other_user):
    factories.make_client(user, "bob@example.com", full_name="Bob")
    factories.make_client(user, "ann@example.com", full_name="Ann")
    factories.make_client(other_user, "aaron@example.com", full_name="Aaron")  # not theirs
    draft = {
        "subject": "News for {{ client.full_name }}",
        "body_text": "Dear {{ client.full_name }} <{{ client.email }}>",
        "body_html": "<p>Hi <b>{{ client.full_name }}</b></p>",
        "action": "preview",
    }
    page = login(user).post("/messages/new", data=draft)
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert "Preview, not saved: as Ann gets it" in shown
    assert '<strong id="rendered-subject">News for Ann</strong>' in page.text
    assert "Dear Ann <ann@example.com>" in shown
    assert "<p>Hi <b>Ann</b></p>" in shown  # the HTML part, in its sandboxed frame
    assert "{{ client.full_name }}" in shown  # the form keeps the template as typed
    assert _messages(user) == []


def test_a_draft_without_a_subject_yet_is_previewed_and_saving_it_asks_for_one(login, user):
    factories.make_client(user, "ann@example.com", full_name="Ann")
    draft = {"subject": "", "body_text": "Dear {{ client.full_name }}", "action": "preview"}
    browser = login(user)

    previewed = browser.post("/messages/new", data=draft)
    saved = browser.post("/messages/new", data={**draft, "action": "save"})

    assert "Preview, not saved: as Ann gets it" in html.unescape(previewed.text)
    assert "Dear Ann" in previewed.text
    assert "is-invalid" not in previewed.text
    assert "Preview, not saved" not in saved.text
    assert "is-invalid" in saved.text  # the subject, asked for
    assert _messages(user) == []


def test_previewing_an_edit_changes_nothing_and_a_bad_template_is_said_not_shown(login, user):
    message = factories.make_message(user, "Old", body_text="Old text")
    browser = login(user)
    edited = {"subject": "New", "body_text": "New text", "action": "preview"}
    page = browser.post(f"/messages/{message.id}/edit", data=edited)
    assert "Sample Client" in page.text  # no clients yet
    assert (
        '<pre class="mb-3" id="rendered-text" style="white-space: pre-wrap">New text' in page.text
    )
    broken = browser.post(
        f"/messages/{message.id}/edit", data={**edited, "body_text": "{{ client.phone }}"}
    )
    assert "has no field" in html.unescape(broken.text)
    assert "Preview, not saved" not in broken.text
    assert [(m.subject, m.body_text) for m in _messages(user)] == [("Old", "Old text")]


def test_preview_renders_for_the_first_client_by_default_and_a_chosen_one(login, user):
    factories.make_client(user, "anna@example.com", full_name="Anna")
    boris = factories.make_client(user, "boris@example.com", full_name="Boris")
    message = factories.make_message(
        user, "Hi {{ client.full_name }}", body_text="Mail {{ client.email }}"
    )
    browser = login(user)
    first = browser.get(f"/messages/{message.id}").text
    assert "Hi Anna" in first
    assert "Mail anna@example.com" in first
    chosen = browser.get(f"/messages/{message.id}?client_id={boris.id}").text
    assert "Hi Boris" in chosen
    assert "Mail boris@example.com" in chosen


# The save check renders for a sample client, who has a name; a real one may not.
FIRST_NAME = "Hi {{ client.full_name.split()[0] }}"


def test_a_message_that_fails_for_the_client_shown_says_so_instead_of_failing(login, user):
    factories.make_client(user, "aaa@example.com")  # first by address, and nameless
    named = factories.make_client(user, "bob@example.com", full_name="Bob Stone")
    message = factories.make_message(user, FIRST_NAME, body_text="Text")
    browser = login(user)

    page = browser.get(f"/messages/{message.id}")

    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert "This message cannot be built for aaa@example.com" in shown
    assert "Subject: line 1: " in shown
    assert 'id="rendered-subject"' not in page.text
    chosen = browser.get(f"/messages/{message.id}?client_id={named.id}").text
    assert '<strong id="rendered-subject">Hi Bob</strong>' in chosen


def test_a_draft_that_fails_for_the_first_client_says_so_at_its_field(login, user):
    factories.make_client(user, "aaa@example.com")
    draft = {"subject": FIRST_NAME, "body_text": "Text", "action": "preview"}

    page = login(user).post("/messages/new", data=draft)

    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert "(for aaa@example.com, whose email would not be sent)" in shown
    assert "Preview, not saved" not in shown
    assert FIRST_NAME in shown  # the form keeps what was typed
    assert _messages(user) == []


def test_preview_finds_a_client_beyond_the_menu_by_name_or_address(login, user, monkeypatch):
    from mailer.mailings import message_routes

    monkeypatch.setattr(message_routes, "PREVIEW_CLIENT_CHOICES", 2)
    for name in ("Anna", "Boris", "Clara", "Dmitry"):
        factories.make_client(user, f"{name.lower()}@example.com", full_name=name)
    message = factories.make_message(user, "Hi {{ client.full_name }}")
    browser = login(user)
    assert "dmitry@example.com" not in browser.get(f"/messages/{message.id}").text  # past 2

    found = browser.get(f"/messages/{message.id}?q=DMIT").text

    assert "Hi Dmitry" in found
    menu = re.search(r'<select [^>]*id="client_id".*?</select>', found, re.S)[0]
    assert re.findall(r"<option [^>]*>([^<]+)</option>", menu) == ["dmitry@example.com — Dmitry"]
    assert 'value="DMIT"' in found  # the search stays in its box, and in the menu's form


def test_preview_search_without_a_match_says_so_and_shows_the_first_client(login, user):
    factories.make_client(user, "anna@example.com", full_name="Anna")
    message = factories.make_message(user, "Hi {{ client.full_name }}")

    page = login(user).get(f"/messages/{message.id}?q=nobody", follow_redirects=True).text

    assert "No client matches “nobody”." in page
    assert "Hi Anna" in page


def test_preview_for_another_users_client_is_not_found(login, user, other_user):
    theirs = factories.make_client(other_user, "theirs@example.com")
    message = factories.make_message(user)
    assert login(user).get(f"/messages/{message.id}?client_id={theirs.id}").status_code == 404


def test_preview_without_clients_uses_a_sample_client(login, user):
    message = factories.make_message(user, body_text="Dear {{ client.full_name }}")
    page = login(user).get(f"/messages/{message.id}").text
    assert "Dear Sample Client" in page
    assert "a sample client is shown" in page


def test_preview_unsubscribe_link_opens_the_clients_page_and_changes_nothing(app, login, user):
    anna = factories.make_client(user, "anna@example.com", full_name="Anna")
    message = factories.make_message(user, body_text="Leave: {{ unsubscribe_url }}")
    browser = login(user)
    page = browser.get(f"/messages/{message.id}").text
    link = re.search(r"Leave: ([^\s<]+)", page).group(1)
    assert link.startswith(app.config["BASE_URL"])

    opened = browser.get(link.removeprefix(app.config["BASE_URL"]))

    assert opened.status_code == 200
    assert "A preview: this is the page your clients see" in opened.text
    assert "Unsubscribe?" in opened.text
    assert "<form" not in opened.text.split("<main", 1)[1]  # nothing to send
    db.session.expire_all()
    assert db.session.get(Client, anna.id).unsubscribed_at is None


def test_preview_shows_the_html_part_as_sent_inside_a_sandbox(login, user):
    factories.make_client(user, "anna@example.com", full_name="<b>Anna</b>")
    message = factories.make_message(
        user,
        body_html='<p style="color: red" onclick="steal()">Hi {{ client.full_name }}</p>'
        "<script>alert(1)</script>",
    )
    page = login(user).get(f"/messages/{message.id}").text

    [frame] = re.findall(r'<iframe id="rendered-html"[^>]*>', page)
    assert re.search(r"\ssandbox\s", frame)  # empty: no scripts, an origin of its own
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert srcdoc == (  # byte for byte what is sent, styles included
        '<p style="color: red" onclick="steal()">Hi &lt;b&gt;Anna&lt;/b&gt;</p>'
        "<script>alert(1)</script>"
    )
    assert "<script>alert(1)" not in page  # never live in the page itself


@pytest.mark.parametrize("path", ["/messages/", "/messages/{id}"])
def test_message_pages_run_the_same_queries_for_3_or_60_rows(login, user, count_queries, path):
    browser = login(user)
    message = factories.make_message(user)
    for number in range(2):
        factories.make_message(user, f"Message {number}")
        factories.make_client(user, f"c{number}@example.com")
    url = path.format(id=message.id)
    _response, few = count_queries(lambda: browser.get(url))
    from mailer.models import Client

    db.session.add_all(Message(owner_id=user.id, subject=f"M{n}", body_text="x") for n in range(58))
    db.session.add_all(Client(owner_id=user.id, email=f"d{n}@example.com") for n in range(58))
    db.session.commit()
    _response, many = count_queries(lambda: browser.get(url))
    assert len(few) == len(many)


def test_a_page_past_the_last_is_not_found_not_an_empty_list(login, user):
    factories.make_message(user)
    browser = login(user)
    assert browser.get("/messages/?page=1").status_code == 200
    assert browser.get("/messages/?page=2").status_code == 404  # not "No messages yet"
