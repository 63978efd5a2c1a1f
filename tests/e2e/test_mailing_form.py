"""The new-mailing form's client search box, as a keyboard user meets it."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import insert

from mailer.extensions import db
from mailer.mailings.mailing_queries import CLIENT_CHECKBOX_LIMIT
from mailer.models import Client, Mailing
from tests import factories
from tests.e2e.ui import log_in


def test_enter_in_the_client_search_searches_and_a_client_beyond_the_list_is_pointed_to(
    open_page, ui
):
    owner = factories.make_user("former@example.com", locale=ui.lang)
    factories.make_message(owner, subject="Hello")
    rows = [
        {"owner_id": owner.id, "email": f"a{n:03}@example.com", "full_name": f"Anna {n:03}"}
        for n in range(CLIENT_CHECKBOX_LIMIT)
    ]
    rows.append({"owner_id": owner.id, "email": "zoya@example.com", "full_name": "Zoya Last"})
    db.session.execute(insert(Client), rows)
    db.session.commit()
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/mailings/new")
    search = page.get_by_label(ui.t("Search clients"))
    hint = page.locator("#no-shown-match")

    search.fill("anna 007")
    search.press("Enter")
    expect(page.locator("#client-list [data-search]:visible")).to_have_count(1)
    expect(hint).to_be_hidden()
    search.fill("zoya")  # sorted after the first 200 shown
    search.press("Enter")

    expect(hint).to_be_visible()
    expect(hint).to_contain_text(ui.t("All my clients matching the search"))
    assert page.url.endswith("/mailings/new")  # Enter saved nothing
    assert db.session.scalar(db.select(db.func.count(Mailing.id))) == 0


def test_the_form_counts_the_ticked_clients_as_they_change(open_page, ui):
    owner = factories.make_user("former@example.com", locale=ui.lang)
    factories.make_message(owner, subject="Hello")
    for name in ("anna", "boris", "vera"):
        factories.make_client(owner, f"{name}@example.com")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/mailings/new")
    count = page.locator("#ticked-count")

    expect(count).to_have_text(ui.t("Ticked: %(num)s", num=0))
    page.get_by_label("boris@example.com").check()
    expect(count).to_have_text(ui.t("Ticked: %(num)s", num=1))
    page.get_by_label(ui.t("Select all shown")).check()
    expect(count).to_have_text(ui.t("Ticked: %(num)s", num=3))
    page.get_by_label("vera@example.com").uncheck()
    expect(count).to_have_text(ui.t("Ticked: %(num)s", num=2))
    ui.look(page)
    ui.assert_translated()
