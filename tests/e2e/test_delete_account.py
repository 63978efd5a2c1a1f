"""A user deletes their own account from the profile, with their password."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Client, User
from tests import factories
from tests.e2e.ui import log_in


def test_a_user_deletes_their_account_after_a_wrong_password(open_page, ui):
    owner = factories.make_user("leaving@example.com", locale=ui.lang)
    factories.make_client(owner, "ann@example.com")
    owner_id = owner.id
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/auth/profile")
    page.get_by_role("link", name=ui.t("Delete your account")).click()
    expect(page.locator("#account-contents")).to_contain_text(
        ui.tn("%(num)d client", "%(num)d clients", 1)
    )
    ui.look(page)

    page.get_by_label(ui.t("Your password")).fill("not-my-password")
    page.get_by_role("button", name=ui.t("Delete my account")).click()
    expect(page.get_by_text(ui.t("This is not your password."))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(User, owner_id) is not None

    page.get_by_label(ui.t("Your password")).fill(factories.PASSWORD)
    page.get_by_role("button", name=ui.t("Delete my account")).click()
    expect(
        page.get_by_text(ui.t("Your account is deleted, with everything in it."))
    ).to_be_visible()
    expect(page.get_by_role("link", name=ui.t("Log in"))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(User, owner_id) is None
    assert db.session.scalar(db.select(Client).filter_by(owner_id=owner_id)) is None
    ui.assert_translated()
