"""The owner's client screens: list, search, sort, pages, create, edit, delete (one or the
ticked), export."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select, text

from mailer.delivery import dispatch
from mailer.extensions import db
from mailer.mailings import client_queries, client_routes, pagination
from mailer.models import Client, Delivery, Mailing, Run, utcnow
from tests import factories
from tests.queued import run_queued_jobs


def _numbered_clients(owner, count: int) -> None:
    """`count` clients c000@example.com, c001@example.com, ... in one commit."""
    db.session.add_all(
        Client(owner_id=owner.id, email=f"c{number:03}@example.com") for number in range(count)
    )
    db.session.commit()


def _clients(owner) -> list[Client]:
    db.session.expire_all()
    return Client.owned_by(owner).order_by(Client.email).all()


def test_empty_list_says_how_to_add_clients(login, user):
    page = login(user).get("/clients/")
    assert page.status_code == 200
    assert "No clients yet" in page.text
    assert "/clients/import" in page.text


def test_list_shows_only_own_clients(login, user, other_user):
    factories.make_client(user, "mine@example.com")
    factories.make_client(other_user, "theirs@example.com")
    page = login(user).get("/clients/")
    assert "mine@example.com" in page.text
    assert "theirs@example.com" not in page.text


def test_search_matches_email_or_name_in_any_case(login, user):
    factories.make_client(user, "anna@example.com", full_name="Анна Иванова")
    factories.make_client(user, "boris@example.com", full_name="Boris Petrov")
    browser = login(user)
    by_name = browser.get("/clients/?q=PETROV").text
    assert "boris@example.com" in by_name
    assert "anna@example.com" not in by_name
    by_email = browser.get("/clients/?q=ANNA@").text
    assert "anna@example.com" in by_email
    assert "boris@example.com" not in by_email


def test_search_treats_percent_as_a_plain_character(login, user):
    factories.make_client(user, "a@example.com", full_name="Plain")
    page = login(user).get("/clients/?q=%25")
    assert "a@example.com" not in page.text
    assert "No clients match" in page.text


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("email", ["a@example.com", "b@example.com", "c@example.com"]),
        ("-email", ["c@example.com", "b@example.com", "a@example.com"]),
        ("name", ["c@example.com", "a@example.com", "b@example.com"]),
        ("-created", ["b@example.com", "c@example.com", "a@example.com"]),
    ],
)
def test_list_sorts_by_the_chosen_column(login, user, sort, expected):
    from datetime import timedelta

    now = utcnow()
    factories.make_client(user, "a@example.com", full_name="Bob", created_at=now)
    factories.make_client(
        user, "b@example.com", full_name="Carl", created_at=now + timedelta(minutes=2)
    )
    factories.make_client(
        user, "c@example.com", full_name="Alice", created_at=now + timedelta(minutes=1)
    )
    text = login(user).get(f"/clients/?sort={sort}").text
    assert sorted(expected, key=text.index) == expected


def test_list_pages_by_fifty(login, user):
    _numbered_clients(user, 60)
    browser = login(user)
    first = browser.get("/clients/").text
    second = browser.get("/clients/?page=2").text
    assert "c049@example.com" in first
    assert "c050@example.com" not in first
    assert "c050@example.com" in second
    assert "c059@example.com" in second
    assert "c000@example.com" not in second
    assert browser.get("/clients/?page=3").status_code == 404  # not "No clients yet"


def test_a_long_list_counts_up_to_the_limit_and_pages_through_those(login, user, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 60)
    _numbered_clients(user, 70)
    browser = login(user)

    first = browser.get("/clients/").text
    assert '<small class="text-body-secondary">60+</small>' in first
    assert "The pages go through the first 60" in first
    # Page 2 is the last counted one; a page number past it shows that page.
    last = browser.get("/clients/?page=2").text
    assert "c050@example.com" in last

    # The same clients; not the same page text, whose form tokens carry the time.
    def clients_on(page: str) -> list[str]:
        return re.findall(r"c\d{3}@example\.com", page)

    assert clients_on(browser.get("/clients/?page=9").text) == clients_on(last)


def test_a_short_list_shows_its_exact_count_without_the_hint(login, user):
    factories.make_client(user, "a@example.com")
    page = login(user).get("/clients/").text
    assert '<small class="text-body-secondary">1</small>' in page
    assert "The pages go through" not in page


def test_search_never_matches_across_the_name_and_the_email(login, user):
    # The search looks in one string, name + separator + email (one index on PostgreSQL).
    factories.make_client(user, "x@example.com", full_name="Anna")
    browser = login(user)
    assert "No clients match" in browser.get("/clients/?q=annax@").text
    assert "No clients match" in browser.get("/clients/?q=anna x@").text
    assert "x@example.com" in browser.get("/clients/?q=nna").text


def test_postgresql_answers_the_search_from_the_trigram_index(app):
    """The query's expression must be the index's, character for character."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's only")
    query = select(Client.id).where(client_queries.search_condition("Анна"))
    sql = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.session.execute(text(f"EXPLAIN {sql}")).scalars())
    db.session.rollback()
    assert "ix_clients_search" in plan


def test_list_and_form_show_unsubscribed_and_bounced(login, user):
    gone = factories.make_client(user, "gone@example.com", unsubscribed_at=utcnow())
    factories.make_client(user, "dead@example.com", bounced_at=utcnow())
    browser = login(user)
    listing = browser.get("/clients/").text
    assert "unsubscribed" in listing
    assert "bounced" in listing
    form = browser.get(f"/clients/{gone.id}/edit").text
    assert "Unsubscribed on" in form


def test_create_client_lowercases_email(login, user):
    response = login(user).post(
        "/clients/new",
        data={"email": " Anna@Example.COM ", "full_name": "Anna", "comment": "from the fair"},
    )
    assert response.status_code == 302
    [client] = _clients(user)
    assert (client.email, client.full_name, client.comment) == (
        "anna@example.com",
        "Anna",
        "from the fair",
    )


def test_invalid_email_is_refused_and_the_form_keeps_what_was_typed(login, user):
    response = login(user).post(
        "/clients/new", data={"email": "anna@@example", "full_name": "Anna Typed"}
    )
    assert response.status_code == 200
    assert "is-invalid" in response.text
    assert 'value="anna@@example"' in response.text
    assert 'value="Anna Typed"' in response.text
    assert _clients(user) == []


def test_same_email_in_another_case_is_refused_with_a_clear_message(login, user):
    factories.make_client(user, "anna@example.com")
    response = login(user).post("/clients/new", data={"email": "ANNA@example.com"})
    assert response.status_code == 200
    assert "You already have a client with this email." in response.text
    assert len(_clients(user)) == 1


@pytest.mark.parametrize(
    ("kept", "typed"),
    [("nina@münchen.de", "Nina@XN--MNCHEN-3YA.de"), ("nina@xn--mnchen-3ya.de", "nina@münchen.de")],
)
def test_an_international_domain_is_one_address_in_letters_or_in_ascii(login, user, kept, typed):
    """Two clients for one mailbox would get every email twice."""
    factories.make_client(user, kept)
    response = login(user).post("/clients/new", data={"email": typed})
    assert "You already have a client with this email." in response.text
    assert [client.email for client in _clients(user)] == ["nina@münchen.de"]


def test_another_users_client_with_the_same_email_is_no_conflict(login, user, other_user):
    factories.make_client(other_user, "anna@example.com")
    response = login(user).post("/clients/new", data={"email": "anna@example.com"})
    assert response.status_code == 302
    assert len(_clients(user)) == 1


def test_an_address_longer_than_64_characters_before_the_at_is_refused(login, user):
    """RFC 5321's limit, which many servers hold to: every email to it would fail."""
    browser = login(user)
    refused = browser.post("/clients/new", data={"email": f"{'l' * 65}@example.com"})
    taken = browser.post("/clients/new", data={"email": f"{'l' * 64}@example.com"})

    assert "Too long before the @ (at most 64 characters)" in refused.text
    assert taken.status_code == 302
    assert [client.email for client in _clients(user)] == [f"{'l' * 64}@example.com"]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("user@[1.2.3.4]", "IP-адрес в скобках после @ использовать нельзя"),
        ('"john doe"@example.com', "Часть до @ не может быть в кавычках."),
        ("a@ab--cd.com", "не может начинаться с двух букв и двух дефисов (как «ab--»)"),
        ("a\ufe6bexample.com", "В адресе стоит другой знак «собака» вместо обычного @."),
        ("a@xn--zz.com", "Часть после @ — недопустимое международное доменное имя."),
        (f"a@{'x' * 64}.com", "После @ часть между точками слишком длинная"),
        ("ivan,x@example.com", "недопустимые символы: «,»"),
    ],
)
def test_a_refused_address_says_why_in_russian_with_russian_quotes(login, user, typed, said):
    """email-validator answers in English: these of its answers were shown as it worded
    them on a Russian page, and the quotes of the characters were English ones."""
    browser = login(user)
    browser.post("/auth/language", data={"locale": "ru"})

    refused = html.unescape(browser.post("/clients/new", data={"email": typed}).text)

    assert said in refused
    assert "@-sign" not in refused
    assert _clients(user) == []


def test_a_reason_reads_as_a_sentence_on_the_form_and_after_a_colon_in_the_report(app):
    from mailer.mailings.client_import import _after_a_colon

    assert _after_a_colon("В адресе нет знака @.") == "в адресе нет знака @."
    assert _after_a_colon("IP-адрес в скобках после @ использовать нельзя.") == (
        "IP-адрес в скобках после @ использовать нельзя."
    )


def test_a_too_long_comment_says_its_limit_as_the_viewer_writes_numbers(login, user):
    """WTForms' own message wrote "2000" on a Russian page, where numbers read "2 000"."""
    browser = login(user)
    typed = {"email": "anna@example.com", "comment": "x" * 2001}

    english = html.unescape(browser.post("/clients/new", data=typed).text)
    browser.post("/auth/language", data={"locale": "ru"})
    russian = html.unescape(browser.post("/clients/new", data=typed).text)

    assert "At most 2,000 characters." in english
    assert "Не более 2\xa0000 символов." in russian
    assert _clients(user) == []


def test_too_long_full_name_is_refused(login, user):
    response = login(user).post(
        "/clients/new", data={"email": "a@example.com", "full_name": "x" * 201}
    )
    assert response.status_code == 200
    assert "is-invalid" in response.text
    assert _clients(user) == []


def test_edit_client_saves_changes(login, user):
    client = factories.make_client(user, "old@example.com")
    response = login(user).post(
        f"/clients/{client.id}/edit", data={"email": "new@example.com", "full_name": "New"}
    )
    assert response.status_code == 302
    [saved] = _clients(user)
    assert (saved.email, saved.full_name) == ("new@example.com", "New")


def test_edit_to_an_email_the_owner_already_has_is_refused(login, user):
    factories.make_client(user, "taken@example.com")
    client = factories.make_client(user, "mine@example.com")
    response = login(user).post(
        f"/clients/{client.id}/edit", data={"email": "Taken@example.com", "full_name": "Typed"}
    )
    assert "You already have a client with this email." in response.text
    assert 'value="Typed"' in response.text
    assert {c.email for c in _clients(user)} == {"taken@example.com", "mine@example.com"}


def test_correcting_a_bounced_address_sends_to_it_again(login, user):
    client = factories.make_client(user, "ann@exmaple.com", bounced_at=utcnow(), hard_bounces=2)
    mailing = factories.make_mailing(user, clients=[client])
    browser = login(user)
    form = browser.get(f"/clients/{client.id}/edit").text
    assert "mailings skip this client until you correct the address" in form

    def save(email: str) -> str:
        data = {"email": email, "full_name": "Ann", "mailing_ids": [mailing.id]}
        return browser.post(f"/clients/{client.id}/edit", data=data, follow_redirects=True).text

    renamed = save("ann@exmaple.com")
    assert "Client saved." in renamed
    assert "The old address bounced" not in renamed
    [still] = _clients(user)
    assert (still.bounced_at is not None, still.hard_bounces) == (True, 2)

    assert "The old address bounced; mailings send to the new one." in save("ann@example.com")
    [fixed] = _clients(user)
    assert (fixed.email, fixed.bounced_at, fixed.hard_bounces) == ("ann@example.com", None, 0)
    assert "ann@example.com" in browser.get("/clients/?state=receiving").text
    run_id = dispatch.start_forced_run(mailing.id)
    assert db.session.scalars(
        select(Delivery.client_id).where(Delivery.run_id == run_id)
    ).all() == [client.id]


def test_a_new_address_keeps_an_unsubscription(login, user):
    client = factories.make_client(
        user, "ann@exmaple.com", unsubscribed_at=utcnow(), bounced_at=utcnow()
    )
    response = login(user).post(
        f"/clients/{client.id}/edit", data={"email": "ann@example.com"}, follow_redirects=True
    )
    assert "Client saved." in response.text
    assert "mailings send to the new one" not in response.text
    [kept] = _clients(user)
    assert (kept.unsubscribed_at is not None, kept.bounced_at) == (True, None)


def test_delete_is_a_post_with_a_confirmation(login, user):
    client = factories.make_client(user, "a@example.com")
    browser = login(user)
    assert browser.get(f"/clients/{client.id}/delete").status_code == 405
    listing = browser.get("/clients/").text
    assert f'action="/clients/{client.id}/delete"' in listing
    assert "data-confirm=" in listing
    assert browser.post(f"/clients/{client.id}/delete").status_code == 302
    assert _clients(user) == []


def test_editing_or_deleting_from_a_searched_sorted_page_comes_back_to_it(login, user):
    _numbered_clients(user, 120)
    browser = login(user)
    listing = browser.get("/clients/?q=c0&sort=-email&page=2").text
    [edit, *_] = re.findall(r'href="(/clients/\d+/edit\?[^"]+)"', listing)
    [delete, *_] = re.findall(r'action="(/clients/\d+/delete\?[^"]+)"', listing)

    edited = browser.post(html.unescape(edit), data={"email": "c0-edited@example.com"})
    deleted = browser.post(html.unescape(delete))

    for answer in (edited, deleted):
        assert answer.status_code == 302
        assert answer.location == "/clients/?q=c0&sort=-email&page=2"


def test_deleting_the_last_client_of_the_last_page_comes_back_to_the_page_before(login, user):
    _numbered_clients(user, 51)
    browser = login(user)
    listing = browser.get("/clients/?page=2").text
    [delete] = re.findall(r'action="(/clients/\d+/delete\?[^"]+)"', listing)

    answer = browser.post(html.unescape(delete), follow_redirects=True)

    assert answer.status_code == 200
    assert answer.request.args["page"] == "1"
    assert "Client deleted." in answer.text


def test_deleting_a_client_removes_it_from_mailings(login, user):
    client = factories.make_client(user, "a@example.com")
    mailing = factories.make_mailing(user, clients=[client])
    login(user).post(f"/clients/{client.id}/delete")
    db.session.expire_all()
    assert db.session.get(Mailing, mailing.id).clients == []


def test_ticked_clients_are_deleted_after_a_page_that_names_them(login, user):
    _numbered_clients(user, 120)
    kept_in_mailing = factories.make_client(user, "kept@example.com")
    browser = login(user)
    listing = browser.get("/clients/?q=c0&sort=-email&page=2").text
    [action] = re.findall(r'<form method="post" action="([^"]+)" id="delete-ticked"', listing)
    ticked = [int(i) for i in re.findall(r'name="client_ids" value="(\d+)"', listing)[:3]]
    assert len(ticked) == 3
    mailing = factories.make_mailing(
        user, clients=[kept_in_mailing, db.session.get(Client, ticked[0])]
    )
    action = html.unescape(action)
    assert action == "/clients/delete?q=c0&sort=-email&page=2"

    question = browser.post(action, data={"client_ids": ticked})

    assert question.status_code == 200
    assert "Delete 3 clients?" in question.text
    names = [db.session.get(Client, i).email for i in ticked]
    assert all(name in question.text for name in names)
    assert "unsubscribed" not in question.text
    assert len(_clients(user)) == 121  # nothing deleted by asking

    done = browser.post(action, data={"client_ids": ticked, "confirmed": "yes"})

    assert done.location == "/clients/?q=c0&sort=-email&page=2"
    assert not {c.email for c in _clients(user)} & set(names)
    assert len(_clients(user)) == 118
    assert [c.email for c in db.session.get(Mailing, mailing.id).clients] == ["kept@example.com"]
    assert "3 clients deleted." in browser.get(done.location).text


def test_deleting_ticked_clients_warns_of_those_who_unsubscribed_and_names_fifty(login, user):
    _numbered_clients(user, 60)
    factories.make_client(user, "gone@example.com", unsubscribed_at=utcnow())
    ids = [c.id for c in _clients(user)]

    page = login(user).post("/clients/delete", data={"client_ids": ids}).text

    assert "Delete 61 clients?" in page
    assert "1 of them unsubscribed, and deleting forgets it" in page
    [named] = re.findall(r'<ul class="user-text" id="clients-to-delete">(.*?)</ul>', page, re.S)
    assert named.count("<li>") == 50
    assert "and 11 more" in named
    assert page.count('name="client_ids"') == 61  # the confirmation deletes them all


def test_every_client_a_search_finds_is_deleted_after_a_page_that_counts_them(
    login, user, other_user
):
    _numbered_clients(user, 120)  # "c0" finds c000-c099
    factories.make_client(other_user, "c0-theirs@example.com")
    browser = login(user)
    listing = browser.get("/clients/?q=c0&page=2").text
    assert "Delete all 100 clients found" in listing

    question = browser.post("/clients/delete?q=c0&page=2", data={"scope": "search"}).text

    assert "Delete 100 clients?" in question
    assert "All the clients the list found with its search and filter: “c0”." in question
    assert "c000@example.com" in question
    assert "and 50 more" in question
    assert 'name="client_ids"' not in question  # the search again, not 100 ids
    done = browser.post(
        "/clients/delete?q=c0&page=2", data=_confirmation_of(question, scope="search")
    )
    assert done.location == "/clients/?q=c0&page=1"  # no page 2 left of this search
    assert [c.email for c in _clients(user)] == [f"c{n}@example.com" for n in range(100, 120)]
    assert [c.email for c in _clients(other_user)] == ["c0-theirs@example.com"]
    assert "No clients match “c0”." in browser.get(done.location).text
    gone = browser.post("/clients/delete?q=c0", data={"scope": "search"}, follow_redirects=True)
    assert gone.text.count("No clients match “c0”.") == 2  # the warning, and the empty list


def _confirmation_of(question: str, **data: str) -> dict[str, str]:
    """The deletion page's confirmation, as its button posts it (with `data` for the scope)."""
    found = re.search(r'name="found" value="([0-9a-f]+)"', question)
    return {**data, "confirmed": "yes", **({"found": found[1]} if found else {})}


@pytest.mark.parametrize("change", ["one more", "one swapped for another"])
def test_a_search_that_finds_others_by_the_confirmation_deletes_nothing_and_asks_again(
    login, user, change
):
    _numbered_clients(user, 3)
    browser = login(user)
    question = browser.post("/clients/delete?q=c00", data={"scope": "search"}).text
    if change == "one swapped for another":  # 3 still match: the count alone would pass
        db.session.delete(_clients(user)[0])
    factories.make_client(user, "c00-late@example.com")

    again = browser.post(
        "/clients/delete?q=c00", data=_confirmation_of(question, scope="search")
    ).text

    assert "changed meanwhile, and nothing was deleted" in again
    assert "c00-late@example.com" in again
    assert len(_clients(user)) == (4 if change == "one more" else 3)
    browser.post("/clients/delete?q=c00", data=_confirmation_of(again, scope="search"))
    assert _clients(user) == []


def test_a_search_finding_more_than_the_list_counts_is_not_deleted_at_once(
    login, user, monkeypatch
):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 5)
    monkeypatch.setattr(client_routes, "COUNT_LIMIT", 5)
    _numbered_clients(user, 6)
    browser = login(user)
    assert "clients found" not in browser.get("/clients/?q=c0").text  # it says 5+

    answer = browser.post("/clients/delete?q=c0", data={"scope": "search"}, follow_redirects=True)

    assert "More than 5 clients match: narrow the search." in answer.text
    assert len(_clients(user)) == 6


def test_the_list_filters_by_state_with_the_search_and_keeps_it_through_sorts_and_edits(
    login, user
):
    factories.make_client(user, "anna@example.com")
    factories.make_client(user, "boris@example.com", unsubscribed_at=utcnow())
    factories.make_client(user, "vera@example.com", bounced_at=utcnow())
    factories.make_client(user, "vlad@example.com", bounced_at=utcnow(), unsubscribed_at=utcnow())
    browser = login(user)

    def listed(**query) -> list[str]:
        page = browser.get("/clients/", query_string=query).text
        return re.findall(r'href="/clients/\d+/edit[^"]*">([^<]+)</a>', page)

    assert listed(state="receiving") == ["anna@example.com"]
    assert listed(state="unsubscribed") == ["boris@example.com", "vlad@example.com"]
    assert listed(state="bounced") == ["vera@example.com", "vlad@example.com"]
    assert listed(state="bounced", q="vl") == ["vlad@example.com"]
    assert listed(state="nonsense") == listed()  # an unknown state: every client
    page = browser.get("/clients/?state=bounced&sort=-email").text
    assert 'href="/clients/?state=bounced&amp;sort=email"' in page  # the sort keeps it
    assert 'href="/clients/?state=bounced&amp;sort=name"' in page
    assert re.search(r'href="/clients/\d+/edit\?state=bounced&amp;sort=-email"', page)
    assert "No clients match “vera”." in browser.get("/clients/?state=receiving&q=vera").text


def test_every_client_in_a_state_is_deleted_after_a_page_that_counts_them(login, user):
    factories.make_client(user, "anna@example.com")
    factories.make_client(user, "vera@example.com", bounced_at=utcnow())
    factories.make_client(user, "vlad@example.com", bounced_at=utcnow())
    browser = login(user)
    assert "Delete all 2 clients found" in browser.get("/clients/?state=bounced").text

    question = browser.post("/clients/delete?state=bounced", data={"scope": "search"}).text
    assert "Delete 2 clients?" in question
    assert "the list found with its search and filter: Bounced." in question
    done = browser.post(
        "/clients/delete?state=bounced", data=_confirmation_of(question, scope="search")
    )

    assert [c.email for c in _clients(user)] == ["anna@example.com"]
    assert done.location == "/clients/?state=bounced"
    assert "No clients match." in browser.get(done.location).text


def test_deleting_with_nothing_ticked_or_only_another_users_clients_deletes_nothing(
    login, user, other_user
):
    mine = factories.make_client(user, "mine@example.com")
    theirs = factories.make_client(other_user, "theirs@example.com")
    browser = login(user)

    nothing = browser.post("/clients/delete", data={}, follow_redirects=True)
    assert "Tick the clients to delete first." in nothing.text
    stranger = {"client_ids": [theirs.id], "confirmed": "yes"}
    answer = browser.post("/clients/delete", data=stranger, follow_redirects=True)
    assert "The ticked clients are deleted already." in answer.text  # as for an unknown id

    browser.post("/clients/delete", data={"client_ids": [mine.id, theirs.id], "confirmed": "yes"})
    assert _clients(user) == []
    assert [c.email for c in _clients(other_user)] == ["theirs@example.com"]


def test_confirming_a_deletion_again_says_the_clients_are_deleted_already(login, user):
    """The browser's Back leads to the confirmation page of clients deleted since."""
    anna = factories.make_client(user, "anna@example.com")
    factories.make_client(user, "boris@example.com")
    browser = login(user)
    confirmation = {"client_ids": [anna.id], "confirmed": "yes"}
    browser.post("/clients/delete", data=confirmation)

    again = browser.post("/clients/delete", data=confirmation, follow_redirects=True).text

    assert "The ticked clients are deleted already." in again
    assert "Tick the clients to delete first." not in again
    assert [c.email for c in _clients(user)] == ["boris@example.com"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/clients/{id}/edit"),
        ("post", "/clients/{id}/edit"),
        ("post", "/clients/{id}/delete"),
    ],
)
def test_another_users_client_is_not_found(login, user, other_user, method, path):
    theirs = factories.make_client(other_user, "theirs@example.com")
    response = getattr(login(user), method)(
        path.format(id=theirs.id), data={"email": "stolen@example.com"}
    )
    assert response.status_code == 404
    assert _clients(other_user)[0].email == "theirs@example.com"


def test_client_pages_need_a_login(client):
    assert client.get("/clients/").status_code == 302
    assert client.get("/clients/export.csv").status_code == 302


def test_export_is_utf8_with_bom_and_round_trips_through_import(
    app, login, user, other_user, fresh_queue
):
    factories.make_client(user, "anna@example.com", full_name="Анна Иванова", comment="a, b")
    factories.make_client(user, "eq@example.com", full_name="=SUM(A1)", comment="")
    factories.make_client(other_user, "theirs@example.com")
    browser = login(user)
    export = browser.get("/clients/export.csv")
    assert export.status_code == 200
    assert export.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["email", "full_name", "comment"]
    assert [row[:3] for row in rows[1:]] == [
        ["anna@example.com", "Анна Иванова", "a, b"],
        ["eq@example.com", "'=SUM(A1)", ""],
    ]

    # Into a fresh account: the same clients come back.
    fresh = factories.make_user(email="fresh@example.com")
    browser = login(fresh)
    preview = browser.post(
        "/clients/import",
        data={"file": (io.BytesIO(export.data), "clients.csv")},
        content_type="multipart/form-data",
    )
    confirm = re.search(r'action="(/clients/imports/\d+/confirm)"', preview.text)[1]
    started = browser.post(confirm)
    run_queued_jobs(app)
    assert "Imported 2 clients." in browser.get(started.location).text
    assert [(c.email, c.full_name, c.comment) for c in _clients(fresh)] == [
        ("anna@example.com", "Анна Иванова", "a, b"),
        ("eq@example.com", "=SUM(A1)", ""),
    ]


def test_export_writes_times_in_the_users_zone_as_the_list_shows_them(login, user):
    user.timezone = "Pacific/Kiritimati"  # UTC+14: "Added" is the next day there
    db.session.commit()
    factories.make_client(
        user, "anna@example.com", created_at=datetime(2030, 1, 10, 16, tzinfo=UTC)
    )

    with time_machine.travel(datetime(2030, 3, 1, 12, 30, tzinfo=UTC), tick=False):
        export = login(user).get("/clients/export.csv")

    assert 'filename="clients-20300302-0230.csv"' in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert rows[0]["created_at"] == "2030-01-11T06:00:00+14:00"


def _many_clients(owner, count: int, *, start: int = 0) -> None:
    now = utcnow()
    db.session.add_all(
        Client(
            owner_id=owner.id,
            email=f"c{number}@example.com",
            full_name=f"Client {number}",
            unsubscribed_at=now if number % 3 == 0 else None,
            bounced_at=now if number % 5 == 0 else None,
        )
        for number in range(start, start + count)
    )
    db.session.commit()


@pytest.mark.parametrize("path", ["/clients/", "/clients/?q=client&sort=-name", "/clients/?page=2"])
def test_client_list_runs_the_same_queries_for_53_or_110_clients(login, user, count_queries, path):
    browser = login(user)
    _many_clients(user, 53)  # page 2 holds 3
    few_response, few = count_queries(lambda: browser.get(path))
    _many_clients(user, 57, start=53)
    many_response, many = count_queries(lambda: browser.get(path))
    assert few_response.status_code == many_response.status_code == 200
    assert len(few) == len(many)


def test_client_edit_page_runs_a_fixed_number_of_queries(login, user, count_queries):
    browser = login(user)
    client = factories.make_client(user, "a@example.com", unsubscribed_at=utcnow())
    _response, first = count_queries(lambda: browser.get(f"/clients/{client.id}/edit"))
    _many_clients(user, 60, start=10)
    _response, second = count_queries(lambda: browser.get(f"/clients/{client.id}/edit"))
    assert len(first) == len(second)


def test_search_results_are_paged_with_their_total(login, user):
    _many_clients(user, 60)
    factories.make_client(user, "other@example.org", full_name="Nobody")
    page = login(user).get("/clients/?q=client&sort=email&page=2").text
    assert '<small class="text-body-secondary">60</small>' in page
    assert page.count('href="/clients/') >= 10
    assert "c9@example.com" in page  # emails sort as text: c0, c1, c10 … c9 last


def _emails_in_order(page: str, emails: list[str]) -> list[str]:
    return sorted((email for email in emails if email in page), key=page.index)


@pytest.mark.parametrize(
    ("sort", "first_page", "second_page"),
    [
        # The matches sort after every other client: the page lies beyond the first rows.
        ("name", ["z0@example.com", "z1@example.com"], ["z2@example.com", "z3@example.com"]),
        # The matches sort first: the page lies within them.
        ("-name", ["z5@example.com", "z4@example.com"], ["z3@example.com", "z2@example.com"]),
    ],
)
def test_a_search_with_many_matches_pages_in_order_wherever_they_sort(
    login, user, monkeypatch, sort, first_page, second_page
):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 4)
    monkeypatch.setattr(client_queries, "PER_PAGE", 2)
    monkeypatch.setattr(client_queries, "PROBE_MAX_ROWS", 3)
    db.session.add_all(
        Client(owner_id=user.id, email=f"a{number}@example.com", full_name=f"Aaron {number}")
        for number in range(10)
    )
    db.session.add_all(
        Client(owner_id=user.id, email=f"z{number}@example.com", full_name=f"Zoe {number}")
        for number in range(6)
    )
    db.session.commit()
    browser = login(user)
    everyone = [f"{letter}{number}@example.com" for letter in "az" for number in range(10)]

    first = browser.get(f"/clients/?q=ZOE&sort={sort}").text
    assert _emails_in_order(first, everyone) == first_page
    assert '<small class="text-body-secondary">4+</small>' in first
    second = browser.get(f"/clients/?q=ZOE&sort={sort}&page=2").text
    assert _emails_in_order(second, everyone) == second_page


def _delete_confirmations(page: str) -> dict[int, str]:
    """Each client's Delete button: the client's id -> the question it asks first."""
    confirmations = {}
    for form in re.findall(r"<form [^>]*>", page):
        action = re.search(r'action="/clients/(\d+)/delete', form)
        confirm = re.search(r'data-confirm="([^"]*)"', form)
        if action and confirm:
            confirmations[int(action.group(1))] = html.unescape(confirm.group(1))
    return confirmations


def test_deleting_an_unsubscribed_client_warns_that_the_opt_out_is_forgotten(login, user):
    gone = factories.make_client(user, "gone@example.com", unsubscribed_at=utcnow())
    dead = factories.make_client(user, "dead@example.com", bounced_at=utcnow())
    here = factories.make_client(user, "here@example.com")
    browser = login(user)
    warning = "They unsubscribed, and deleting forgets it"

    listed = _delete_confirmations(browser.get("/clients/").text)
    edited = {
        client.id: _delete_confirmations(browser.get(f"/clients/{client.id}/edit").text)[client.id]
        for client in (gone, dead, here)
    }

    for confirmations in (listed, edited):
        assert confirmations[gone.id].startswith("Delete the client gone@example.com?")
        assert warning in confirmations[gone.id]
        assert (
            confirmations[dead.id] == "Delete the client dead@example.com? This cannot be undone."
        )
        assert (
            confirmations[here.id] == "Delete the client here@example.com? This cannot be undone."
        )


@pytest.mark.parametrize("page", ["new", "edit"])
def test_a_too_long_email_gets_one_error(login, user, page):
    client = factories.make_client(user, "old@example.com")
    path = "/clients/new" if page == "new" else f"/clients/{client.id}/edit"
    email = "a" * 243 + "@example.com"  # 255 characters, one past the limit

    response = login(user).post(path, data={"email": email})

    assert response.status_code == 200
    shown = re.search(r'id="email-error">(.*?)</div></div>', response.text).group(1)
    assert re.findall(r"<div>([^<]*)", shown) == ["At most 254 characters."]
    assert 'maxlength="254"' in response.text  # the browser still stops at the limit
    assert [c.email for c in _clients(user)] == ["old@example.com"]


def test_a_mailings_page_links_to_its_clients_on_the_list_and_its_filters_keep_them(
    login, user, other_user
):
    anna = factories.make_client(user, "anna@example.com")
    vera = factories.make_client(user, "vera@example.com", bounced_at=utcnow())
    factories.make_client(user, "boris@example.com")
    mailing = factories.make_mailing(user, clients=[anna, vera], name="Spring")
    theirs = factories.make_mailing(other_user)
    browser = login(user)

    detail = browser.get(f"/mailings/{mailing.id}").text
    assert f'href="/clients/?mailing={mailing.id}"' in detail

    def listed(**query) -> list[str]:
        page = browser.get("/clients/", query_string=query).text
        return re.findall(r'href="/clients/\d+/edit[^"]*">([^<]+)</a>', page)

    assert listed(mailing=mailing.id) == ["anna@example.com", "vera@example.com"]
    assert listed(mailing=mailing.id, state="receiving") == ["anna@example.com"]
    assert listed(mailing=mailing.id, q="ver") == ["vera@example.com"]
    page = browser.get(f"/clients/?mailing={mailing.id}").text
    assert re.search(r'id="mailing-filter">The clients of the mailing <a[^>]*>“Spring”</a>', page)
    assert f'<input type="hidden" name="mailing" value="{mailing.id}">' in page  # the search
    assert f"mailing={mailing.id}&amp;sort=-email" in page  # the sort links
    assert re.search(rf'href="/clients/\d+/edit\?mailing={mailing.id}"', page)  # the edits
    assert browser.get(f"/clients/?mailing={theirs.id}").status_code == 404


def test_every_client_of_a_mailing_is_deleted_after_a_page_that_counts_them(login, user):
    anna = factories.make_client(user, "anna@example.com")
    vera = factories.make_client(user, "vera@example.com")
    factories.make_client(user, "boris@example.com")
    mailing = factories.make_mailing(user, clients=[anna, vera], name="Spring")
    browser = login(user)
    assert "Delete all 2 clients found" in browser.get(f"/clients/?mailing={mailing.id}").text

    url = f"/clients/delete?mailing={mailing.id}"
    question = browser.post(url, data={"scope": "search"}).text
    assert "Delete 2 clients?" in question
    assert "search and filter: clients of “Spring”." in question
    browser.post(url, data=_confirmation_of(question, scope="search"))

    assert [c.email for c in _clients(user)] == ["boris@example.com"]


def test_a_search_with_many_matches_among_a_mailings_clients_shows_only_theirs(
    login, user, monkeypatch
):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 2)  # 3 matches: counted "2+", then probed
    monkeypatch.setattr(client_queries, "PER_PAGE", 2)
    zoes = [
        factories.make_client(user, f"z{n}@example.com", full_name=f"Zoe {n}") for n in range(6)
    ]
    mailing = factories.make_mailing(user, clients=zoes[1::2])  # z1, z3, z5
    browser = login(user)

    page = browser.get(f"/clients/?q=zoe&sort=-name&mailing={mailing.id}").text

    assert _emails_in_order(page, [client.email for client in zoes]) == [
        "z5@example.com",
        "z3@example.com",
    ]


def test_ticked_clients_are_taken_out_of_the_mailing_whose_list_they_are_on(login, user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    vera = factories.make_client(user, "vera@example.com")
    mailing = factories.make_mailing(user, clients=[anna, boris, vera], name="Spring")
    other = factories.make_mailing(user, clients=[anna])
    browser = login(user)
    page = browser.get(f"/clients/?mailing={mailing.id}&sort=-email").text
    assert f'formaction="/clients/remove-from-mailing?mailing={mailing.id}&amp;sort=-email"' in page
    assert "Take the ticked clients out of “Spring”?" in page  # asked first
    assert "Take ticked out" not in browser.get("/clients/").text  # only on a mailing's list

    done = browser.post(
        f"/clients/remove-from-mailing?mailing={mailing.id}&sort=-email",
        data={"client_ids": [str(anna.id), str(vera.id)]},
        follow_redirects=True,
    )

    assert "2 clients taken out of “Spring”; they stay in your clients." in done.text
    assert done.request.path == "/clients/"  # back to the list as it was
    db.session.expire_all()
    assert [client.email for client in mailing.clients] == ["boris@example.com"]
    assert [client.email for client in other.clients] == ["anna@example.com"]  # untouched
    assert len(_clients(user)) == 3  # nobody deleted
    none = browser.post(f"/clients/remove-from-mailing?mailing={mailing.id}", follow_redirects=True)
    assert "Tick the clients to take out first." in none.text


def test_a_send_in_progress_skips_the_clients_taken_out_of_its_mailing(login, user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    mailing = factories.make_mailing(user, clients=[anna, boris])
    run = factories.make_run(mailing)
    db.session.add_all([Delivery(run_id=run.id, client_id=c.id) for c in (anna, boris)])
    db.session.commit()

    login(user).post(
        f"/clients/remove-from-mailing?mailing={mailing.id}", data={"client_ids": [str(boris.id)]}
    )

    db.session.expire_all()
    statuses = dict(db.session.execute(db.select(Delivery.client_id, Delivery.status)).all())
    assert statuses == {anna.id: "pending", boris.id: "cancelled"}
    assert db.session.get(Run, run.id).finished_at is None
