"""A client's mailings: ticked on its page, joined and left on save, or added to one from
the list; its latest attempts."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from mailer.extensions import db
from mailer.mailings import mailing_queries
from mailer.models import Client, Delivery, Run, mailing_clients
from tests import factories
from tests.waiting import someone_waits_for_a_lock, wait_for


def _ticked(page: str) -> set[int]:
    """The mailings the form's checkboxes tick."""
    boxes = re.findall(r'<input[^>]*name="mailing_ids"[^>]*>', page)
    return {int(re.search(r'value="(\d+)"', box)[1]) for box in boxes if " checked" in box}


def _shown(page: str) -> set[int]:
    return {int(id_) for id_ in re.findall(r'name="mailing_ids" value="(\d+)"', page)}


def _mailings_of(client: Client) -> set[int]:
    rows = db.session.scalars(
        db.select(mailing_clients.c.mailing_id).where(mailing_clients.c.client_id == client.id)
    )
    return set(rows)


def _linked_to(mailing) -> set[int]:
    """The mailing's clients, as the database has them now."""
    rows = db.session.scalars(
        db.select(mailing_clients.c.client_id).where(mailing_clients.c.mailing_id == mailing.id)
    )
    return set(rows)


def _added(email: str) -> Client:
    return db.session.scalar(db.select(Client).filter_by(email=email))


def test_a_new_client_joins_the_mailings_its_form_ticks_first_those_taking_new_clients(
    login, user, other_user
):
    taking = factories.make_mailing(user, name="Taking", takes_new_clients=True)
    fixed = factories.make_mailing(user, name="Fixed")
    theirs = factories.make_mailing(other_user, name="Theirs", takes_new_clients=True)
    browser = login(user)

    form = browser.get("/clients/new").text

    assert _shown(form) == {taking.id, fixed.id}  # another user's mailing is not offered
    assert _ticked(form) == {taking.id}
    added = browser.post(
        "/clients/new",
        data={"email": "vera@example.com", "mailing_ids": [str(id_) for id_ in _ticked(form)]},
        follow_redirects=True,
    )
    assert "It joins 1 mailing." in added.text
    assert _mailings_of(_added("vera@example.com")) == {taking.id}
    assert _linked_to(theirs) == set()


def test_a_new_client_joins_only_what_is_left_ticked(login, user):
    factories.make_mailing(user, name="Taking", takes_new_clients=True)
    fixed = factories.make_mailing(user, name="Fixed")
    browser = login(user)

    unticked = browser.post(
        "/clients/new", data={"email": "vera@example.com"}, follow_redirects=True
    )
    browser.post("/clients/new", data={"email": "oleg@example.com", "mailing_ids": str(fixed.id)})

    assert "Client added." in unticked.text
    assert "It joins" not in unticked.text
    assert _mailings_of(_added("vera@example.com")) == set()
    assert _mailings_of(_added("oleg@example.com")) == {fixed.id}


def test_an_edit_shows_the_clients_mailings_and_moves_it_between_them(login, user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    spring = factories.make_mailing(user, name="Spring", clients=[anna, boris])
    autumn = factories.make_mailing(user, name="Autumn")
    browser = login(user)
    form = browser.get(f"/clients/{anna.id}/edit").text
    assert _ticked(form) == {spring.id}
    assert "Autumn" in form

    saved = browser.post(
        f"/clients/{anna.id}/edit",
        data={"email": "anna@example.com", "mailing_ids": str(autumn.id)},
        follow_redirects=True,
    )

    assert "Client saved." in saved.text
    db.session.expire_all()
    assert _mailings_of(anna) == {autumn.id}
    assert _mailings_of(boris) == {spring.id}  # the others stay
    assert _ticked(browser.get(f"/clients/{anna.id}/edit").text) == {autumn.id}


def test_a_send_in_progress_skips_a_client_unticked_on_its_form(login, user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    spring = factories.make_mailing(user, clients=[anna, boris])
    autumn = factories.make_mailing(user, clients=[boris])
    runs = [factories.make_run(mailing) for mailing in (spring, autumn)]
    db.session.add_all(
        [Delivery(run_id=runs[0].id, client_id=c.id) for c in (anna, boris)]
        + [Delivery(run_id=runs[1].id, client_id=boris.id)]
    )
    db.session.commit()

    login(user).post(
        f"/clients/{boris.id}/edit",
        data={"email": "boris@example.com", "mailing_ids": str(autumn.id)},
    )

    db.session.expire_all()
    statuses = dict(
        db.session.execute(
            db.select(Delivery.run_id, Delivery.status).where(Delivery.client_id == boris.id)
        ).all()
    )
    assert statuses == {runs[0].id: "cancelled", runs[1].id: "pending"}
    anna_delivery = db.session.scalar(db.select(Delivery).filter_by(client_id=anna.id))
    assert anna_delivery.status == "pending"
    assert db.session.get(Run, runs[0].id).finished_at is None  # anna is still to be sent


def test_with_many_mailings_the_form_offers_the_newest_and_the_clients_own_and_keeps_the_rest(
    login, user, monkeypatch
):
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 2)
    anna = factories.make_client(user, "anna@example.com")
    oldest = factories.make_mailing(user, name="Oldest", clients=[anna])
    older = factories.make_mailing(user, name="Older", clients=[anna])
    factories.make_mailing(user, name="Unseen")
    newer = factories.make_mailing(user, name="Newer")
    newest = factories.make_mailing(user, name="Newest")
    browser = login(user)

    form = browser.get(f"/clients/{anna.id}/edit").text
    # The newest two, and two the client is in (up to as many): "Unseen" is not offered.
    assert _shown(form) == {newest.id, newer.id, older.id, oldest.id}
    assert _ticked(form) == {older.id, oldest.id}
    assert "Your 2 newest mailings are listed, with those already ticked" in form
    browser.post(
        f"/clients/{anna.id}/edit",
        data={"email": "anna@example.com", "mailing_ids": [str(newest.id), str(oldest.id)]},
    )

    db.session.expire_all()
    assert _mailings_of(anna) == {newest.id, oldest.id}


def test_a_mailing_the_form_did_not_offer_keeps_the_client(login, user, monkeypatch):
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 1)
    anna = factories.make_client(user, "anna@example.com")
    older = factories.make_mailing(user, name="Older", clients=[anna])
    old = factories.make_mailing(user, name="Old", clients=[anna])
    newest = factories.make_mailing(user, name="Newest")
    browser = login(user)
    form = browser.get(f"/clients/{anna.id}/edit").text
    assert _shown(form) == {newest.id, old.id}  # the client's newest one only, of its two

    browser.post(f"/clients/{anna.id}/edit", data={"email": "anna@example.com"})  # none ticked

    db.session.expire_all()
    assert _mailings_of(anna) == {older.id}  # unticked "Old" left; "Older", not shown, kept


def test_a_new_clients_form_offers_the_mailings_taking_new_clients_however_old(
    login, user, monkeypatch
):
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 1)
    taking = factories.make_mailing(user, name="Taking", takes_new_clients=True)
    factories.make_mailing(user, name="Unseen")
    newest = factories.make_mailing(user, name="Newest")

    form = login(user).get("/clients/new").text

    assert _shown(form) == {newest.id, taking.id}
    assert _ticked(form) == {taking.id}


def test_another_users_mailing_cannot_be_ticked_and_the_form_keeps_what_was_typed(
    login, user, other_user
):
    mine = factories.make_mailing(user, name="Mine")
    theirs = factories.make_mailing(other_user, name="Theirs")
    browser = login(user)

    refused = browser.post(
        "/clients/new",
        data={"email": "vera@example.com", "mailing_ids": [str(mine.id), str(theirs.id)]},
    )

    assert refused.status_code == 200
    assert "One of the ticked mailings is not among yours" in refused.text
    assert 'value="vera@example.com"' in refused.text
    assert _ticked(refused.text) == {mine.id}
    assert _added("vera@example.com") is None
    assert _linked_to(theirs) == set()


def test_a_bad_email_keeps_the_ticked_mailings(login, user):
    spring = factories.make_mailing(user, name="Spring")
    factories.make_mailing(user, name="Autumn", takes_new_clients=True)

    page = login(user).post(
        "/clients/new", data={"email": "not an address", "mailing_ids": str(spring.id)}
    )

    assert page.status_code == 200
    assert _ticked(page.text) == {spring.id}  # as sent, not the form's first ticks


def test_the_form_offers_no_mailings_before_the_first_one(login, user):
    page = login(user).get("/clients/new").text
    assert "mailing_ids" not in page
    assert "Mailings</legend>" not in page


def test_a_clients_page_shows_its_newest_attempts_and_leads_to_the_rest(login, user):
    anna = factories.make_client(user, "anna@example.com")
    boris = factories.make_client(user, "boris@example.com")
    run = factories.make_run(factories.make_mailing(user, name="Spring"))
    for day in range(1, 8):  # seven, the newest a failure
        factories.make_attempt(
            run,
            anna,
            success=day < 7,
            reply="5.1.1 Mailbox unavailable" if day == 7 else "2.0.0 Ok",
            attempted_at=datetime(2030, 1, day, 9, tzinfo=UTC),
        )
    factories.make_attempt(run, boris, attempted_at=datetime(2030, 1, 9, 9, tzinfo=UTC))

    page = login(user).get(f"/clients/{anna.id}/edit").text

    attempts = page[page.index('id="client-attempts"') :]
    shown = re.findall(r"2030-01-0(\d) 09:00", attempts)
    assert shown == ["7", "6", "5", "4", "3"]  # the newest five, newest first
    assert "5.1.1 Mailbox unavailable" in attempts
    assert f'href="/attempts/?client={anna.id}"' in attempts


def test_a_client_sent_nothing_yet_says_so(login, user):
    anna = factories.make_client(user, "anna@example.com")
    page = login(user).get(f"/clients/{anna.id}/edit").text
    assert "Nothing has been sent to this client yet." in page
    assert "/attempts/?client=" not in page


def test_the_list_adds_the_ticked_clients_to_the_chosen_mailing(login, user, other_user):
    anna, boris, vera = (
        factories.make_client(user, f"{name}@example.com") for name in ("anna", "boris", "vera")
    )
    spring = factories.make_mailing(user, name="Spring", clients=[anna])
    factories.make_mailing(other_user, name="Theirs")
    browser = login(user)
    page = browser.get("/clients/?q=example&sort=-email").text
    assert re.findall(r'<option value="(\d+)">([^<]*)</option>', page) == [
        (str(spring.id), "Spring")
    ]

    done = browser.post(
        "/clients/add-to-mailing?q=example&sort=-email",
        data={"target_mailing": str(spring.id), "client_ids": [str(anna.id), str(boris.id)]},
        follow_redirects=True,
    )

    assert "1 client added to “Spring”. 1 other was in it already." in done.text
    assert done.request.full_path == "/clients/?q=example&sort=-email"  # the list as it was
    db.session.expire_all()
    assert {client.email for client in spring.clients} == {"anna@example.com", "boris@example.com"}
    assert vera not in spring.clients


def test_adding_clients_all_in_the_mailing_already_says_how_many(login, user):
    clients = [factories.make_client(user, f"c{n}@example.com") for n in range(3)]
    spring = factories.make_mailing(user, name="Spring", clients=clients)

    said = login(user).post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(spring.id), "client_ids": [str(c.id) for c in clients]},
        follow_redirects=True,
    )

    assert "All 3 ticked clients were in “Spring” already." in said.text


def test_a_mailings_list_of_clients_offers_to_add_them_to_the_others_only(login, user):
    anna = factories.make_client(user, "anna@example.com")
    spring = factories.make_mailing(user, name="Spring", clients=[anna])
    autumn = factories.make_mailing(user, name="Autumn")

    page = login(user).get(f"/clients/?mailing={spring.id}").text

    assert re.findall(r'<option value="(\d+)">([^<]*)</option>', page) == [
        (str(autumn.id), "Autumn")
    ]


def test_the_list_offers_to_add_to_the_newest_mailings_only(login, user, monkeypatch):
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 1)
    factories.make_client(user, "anna@example.com")
    factories.make_mailing(user, name="Older")
    newest = factories.make_mailing(user, name="Newest")

    page = login(user).get("/clients/").text

    assert re.findall(r'<option value="(\d+)">([^<]*)</option>', page) == [
        (str(newest.id), "Newest")
    ]


def test_adding_to_a_mailing_takes_only_the_owners_mailing_and_clients(login, user, other_user):
    mine = factories.make_client(user, "anna@example.com")
    stranger = factories.make_client(other_user, "secret@example.com")
    spring = factories.make_mailing(user, name="Spring")
    theirs = factories.make_mailing(other_user, name="Theirs")
    browser = login(user)

    refused = browser.post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(theirs.id), "client_ids": str(mine.id)},
        follow_redirects=True,
    )
    forged = browser.post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(spring.id), "client_ids": [str(mine.id), str(stranger.id)]},
        follow_redirects=True,
    )

    assert "Choose the mailing to add the ticked clients to." in refused.text
    assert "1 client added to “Spring”." in forged.text
    db.session.expire_all()
    assert theirs.clients == []
    assert [client.email for client in spring.clients] == ["anna@example.com"]


def test_adding_clients_deleted_meanwhile_says_so_not_that_they_were_in_it(login, user):
    """Ticked on a list shown before another tab deleted them: they were counted as "in
    the mailing already"."""
    anna = factories.make_client(user, "anna@example.com")
    gone = [factories.make_client(user, f"gone{n}@example.com").id for n in range(2)]
    spring = factories.make_mailing(user, name="Spring", clients=[anna])
    browser = login(user)
    for client_id in gone:
        browser.post(f"/clients/{client_id}/delete")

    only_gone = browser.post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(spring.id), "client_ids": [str(i) for i in gone]},
        follow_redirects=True,
    )
    with_anna = browser.post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(spring.id), "client_ids": [str(anna.id), str(gone[0])]},
        follow_redirects=True,
    )

    assert "2 ticked clients are deleted already." in only_gone.text
    assert "were in “Spring” already" not in only_gone.text
    assert (
        "The ticked client was in “Spring” already. 1 ticked client is deleted already."
        in with_anna.text
    )


def test_adding_to_a_mailing_asks_for_a_mailing_and_a_tick(login, user):
    anna = factories.make_client(user, "anna@example.com")
    spring = factories.make_mailing(user, name="Spring")
    browser = login(user)

    unchosen = browser.post(
        "/clients/add-to-mailing",
        data={"target_mailing": "", "client_ids": str(anna.id)},
        follow_redirects=True,
    )
    unticked = browser.post(
        "/clients/add-to-mailing", data={"target_mailing": str(spring.id)}, follow_redirects=True
    )

    assert "Choose the mailing to add the ticked clients to." in unchosen.text
    assert "Tick the clients to add first." in unticked.text
    db.session.expire_all()
    assert spring.clients == []


def test_the_list_offers_no_mailing_to_add_to_before_the_first_one(login, user):
    factories.make_client(user, "anna@example.com")
    page = login(user).get("/clients/").text
    assert "target_mailing" not in page
    assert "Delete ticked clients" in page


def test_a_client_another_tab_adds_meanwhile_is_not_added_twice(app, login, user):
    """The other tab's link is not committed when this one looks, so both insert it; this
    one waits for the other's commit, then skips it instead of failing."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the second save starts after the first ends")
    anna = factories.make_client(user, "anna@example.com")
    spring = factories.make_mailing(user, name="Spring")
    link = {"mailing_id": spring.id, "client_id": anna.id}
    errors: list[BaseException] = []
    linked = threading.Event()

    def other_tab():
        try:
            with app.app_context(), db.engine.connect() as tab:
                tab.execute(insert(mailing_clients).values(**link))
                linked.set()
                assert wait_for(someone_waits_for_a_lock)
                tab.commit()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
            linked.set()

    thread = threading.Thread(target=other_tab)
    thread.start()
    assert linked.wait(30)
    added = login(user).post(
        "/clients/add-to-mailing",
        data={"target_mailing": str(spring.id), "client_ids": str(anna.id)},
        follow_redirects=True,
    )
    thread.join(60)

    assert errors == []
    assert added.status_code == 200
    assert "The ticked client was in “Spring” already." in added.text
    db.session.expire_all()
    assert [client.email for client in spring.clients] == ["anna@example.com"]
