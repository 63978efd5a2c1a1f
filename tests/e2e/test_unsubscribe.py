"""A client unsubscribes through the link in an email, then thinks better of it."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.delivery.unsubscribe import unsubscribe_token
from mailer.extensions import db
from mailer.models import Client
from tests import factories


def test_a_client_unsubscribes_then_subscribes_again(open_page, ui):
    owner = factories.make_user("owner@example.com")
    anna = factories.make_client(owner, "anna@example.com")
    page = open_page(ui.lang)  # the client's own browser, in their language; no login
    page.goto(f"/u/{unsubscribe_token(anna.id, anna.email)}")
    ui.look(page)

    page.get_by_role("button", name=ui.t("Unsubscribe"), exact=True).click()
    expect(page.locator("h1")).to_have_text(ui.t("You are unsubscribed"))
    page.reload()  # a page reached by a redirect: reloading it asks nothing, does nothing
    expect(page.locator("h1")).to_have_text(ui.t("You are unsubscribed"))
    ui.look(page)
    page.get_by_role("button", name=ui.t("Subscribe again")).click()  # with the page's CSRF token
    expect(page.locator("h1")).to_have_text(ui.t("You are subscribed again"))
    ui.look(page)
    db.session.expire_all()
    assert db.session.get(Client, anna.id).unsubscribed_at is None
    ui.assert_translated()
