"""A user ticks clients on the list and deletes them, after a page that names them."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Client, utcnow
from tests import factories
from tests.e2e.ui import log_in


def test_a_user_ticks_a_page_of_clients_unticks_one_and_deletes_the_rest(open_page, ui):
    owner = factories.make_user("tidy@example.com", locale=ui.lang)
    for name in ("anna", "boris", "vera"):
        factories.make_client(owner, f"{name}@example.com")
    factories.make_client(owner, "gone@example.com", unsubscribed_at=utcnow())
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    delete = page.get_by_role("button", name=ui.t("Delete ticked clients"))
    every = page.get_by_label(ui.t("Tick every client on this page"))
    expect(delete).to_be_disabled()
    ui.look(page)

    every.check()
    page.get_by_label(ui.t("Tick %(email)s", email="boris@example.com")).uncheck()
    expect(every).not_to_be_checked()
    assert every.evaluate("box => box.indeterminate")
    delete.click()

    expect(page.get_by_role("heading")).to_have_text(
        ui.tn("Delete %(num)s client?", "Delete %(num)s clients?", 3)
    )
    expect(page.locator("#clients-to-delete li")).to_have_text(
        ["anna@example.com", "gone@example.com", "vera@example.com"]
    )
    expect(page.locator("#unsubscribed-warning")).to_be_visible()
    ui.look(page)
    _confirm_deletion(page, ui, 3)
    expect(page.locator("tbody tr")).to_have_count(1)
    db.session.expire_all()
    assert db.session.scalars(db.select(Client.email).filter_by(owner_id=owner.id)).all() == [
        "boris@example.com"
    ]
    ui.assert_translated()


def test_a_user_deletes_every_client_a_search_finds(open_page, ui):
    owner = factories.make_user("tidy@example.com", locale=ui.lang)
    for name in ("anna", "anton", "boris"):
        factories.make_client(owner, f"{name}@old.example.com")
    factories.make_client(owner, "anna@new.example.com")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    page.get_by_label(ui.t("Search")).first.fill("@old.")
    page.get_by_label(ui.t("Search")).first.press("Enter")

    page.get_by_role(
        "button",
        name=ui.tn("Delete the %(num)s client found", "Delete all %(num)s clients found", 3),
    ).click()

    expect(page.locator("#matching")).to_have_text(
        ui.t(
            "All the clients the list found with its search and filter: %(filter)s.",
            filter=ui.t("“%(name)s”", name="@old."),
        )
    )
    ui.look(page)
    _confirm_deletion(page, ui, 3)
    expect(page.get_by_text(ui.t("No clients match “%(search)s”.", search="@old."))).to_be_visible()
    db.session.expire_all()
    assert db.session.scalars(db.select(Client.email).filter_by(owner_id=owner.id)).all() == [
        "anna@new.example.com"
    ]
    ui.assert_translated()


def _confirm_deletion(page, ui, count: int) -> None:
    """Press the deletion page's button; the list says how many went."""
    page.get_by_role(
        "button", name=ui.tn("Delete %(num)s client", "Delete %(num)s clients", count)
    ).click()
    expect(
        page.get_by_text(ui.tn("%(num)s client deleted.", "%(num)s clients deleted.", count))
    ).to_be_visible()
