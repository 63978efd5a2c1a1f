"""A mailing's clients: those its owner adds later join it; its list takes some out."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.models import Mailing, utcnow
from tests import factories
from tests.e2e.ui import REPORT_WAIT, log_in


def test_a_client_added_later_joins_a_mailing_that_takes_new_clients(open_page, ui):
    owner = factories.make_user("editor@example.com", locale=ui.lang, timezone="UTC")
    factories.make_message(owner, "Spring news")
    factories.make_client(owner, "anna@example.com")
    start = utcnow().date() + timedelta(days=1)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/mailings/new")
    page.get_by_label(ui.t("Message"), exact=True).select_option(label="Spring news")
    page.get_by_label(ui.t("Start"), exact=True).fill(f"{start}T09:00")
    page.get_by_label(ui.t("End"), exact=True).fill(f"{start + timedelta(days=60)}T09:00")
    page.get_by_label(ui.t("Frequency"), exact=True).select_option("weekly")
    page.get_by_label(ui.t("Select all shown")).check()
    joins = page.get_by_label(ui.t("Clients I add later join it too"))
    expect(joins).not_to_be_checked()  # a mailing's clients are fixed unless asked
    joins.check()
    ui.look(page)
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()
    total = page.locator("#client-total")
    expect(total).to_contain_text("1")
    expect(total).to_contain_text(ui.t("and those you add later"))

    page.goto("/clients/new")
    page.get_by_label(ui.t("Email")).fill("boris@example.com")
    expect(page.get_by_label("Spring news")).to_be_checked()  # it takes new clients
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()

    expect(
        page.get_by_text(ui.tn("It joins %(num)s mailing.", "It joins %(num)s mailings.", 1))
    ).to_be_visible()
    ui.look(page)
    mailing = db.session.scalar(db.select(Mailing).where(Mailing.owner_id == owner.id))
    page.goto(f"/mailings/{mailing.id}")
    expect(total).to_contain_text("2")
    ui.assert_translated()


def test_a_user_opens_a_mailings_clients_and_takes_one_out_after_a_question(open_page, ui):
    owner = factories.make_user("editor@example.com", locale=ui.lang)
    clients = [factories.make_client(owner, f"{name}@example.com") for name in ("anna", "boris")]
    mailing = factories.make_mailing(owner, clients=clients, name="Spring")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/mailings/{mailing.id}")
    page.locator("#client-total a").click()
    expect(page.locator("#mailing-filter")).to_contain_text(ui.t("“%(name)s”", name="Spring"))
    take_out = page.get_by_role("button", name=ui.t("Take ticked out of this mailing"))
    expect(take_out).to_be_disabled()
    ui.look(page)

    page.get_by_label(ui.t("Tick %(email)s", email="boris@example.com")).check()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    take_out.click()

    expect(page.locator("tbody tr")).to_have_count(1)
    assert questions == [
        ui.t(
            "Take the ticked clients out of “%(mailing)s”? They stay in your clients.",
            mailing="Spring",
        )
    ]
    db.session.expire_all()
    assert [client.email for client in db.session.get(Mailing, mailing.id).clients] == [
        "anna@example.com"
    ]
    ui.assert_translated()


def test_a_user_moves_a_client_between_mailings_on_its_page(open_page, ui):
    owner = factories.make_user("editor@example.com", locale=ui.lang)
    anna = factories.make_client(owner, "anna@example.com")
    spring = factories.make_mailing(owner, clients=[anna], name="Spring")
    autumn = factories.make_mailing(owner, name="Autumn")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    page.get_by_role("link", name="anna@example.com").click()

    expect(page.get_by_label("Spring")).to_be_checked()
    page.get_by_label("Spring").uncheck()
    page.get_by_label("Autumn").check()
    ui.look(page)
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()

    expect(page.get_by_text(ui.t("Client saved."))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Mailing, spring.id).clients == []
    assert [client.email for client in db.session.get(Mailing, autumn.id).clients] == [
        "anna@example.com"
    ]
    ui.assert_translated()


def test_a_user_imports_clients_into_the_mailing_they_tick_on_the_preview(open_page, ui, tmp_path):
    owner = factories.make_user("editor@example.com", locale=ui.lang)
    taking = factories.make_mailing(owner, name="Spring", takes_new_clients=True)
    autumn = factories.make_mailing(owner, name="Autumn")
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("anna@example.com\nboris@example.com\n", encoding="utf-8")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/import")
    page.get_by_label(ui.t("Spreadsheet or CSV file")).set_input_files(csv_file)
    page.get_by_role("button", name=ui.t("Upload and preview")).click()

    expect(page.get_by_label("Spring")).to_be_checked()  # it takes new clients
    page.get_by_label("Spring").uncheck()
    page.get_by_label("Autumn").check()
    ui.look(page)
    page.get_by_role("button", name=ui.tn("Import %(num)s row", "Import %(num)s rows", 2)).click()

    expect(page.locator("#joined-mailings")).to_have_text(
        ui.tn("They join %(num)s mailing.", "They join %(num)s mailings.", 1), timeout=REPORT_WAIT
    )
    db.session.expire_all()
    assert db.session.get(Mailing, taking.id).clients == []
    assert sorted(client.email for client in db.session.get(Mailing, autumn.id).clients) == [
        "anna@example.com",
        "boris@example.com",
    ]
    ui.assert_translated()


def test_a_user_adds_ticked_clients_to_a_mailing_from_the_list(open_page, ui):
    owner = factories.make_user("editor@example.com", locale=ui.lang)
    for name in ("anna", "boris", "vera"):
        factories.make_client(owner, f"{name}@example.com")
    mailing = factories.make_mailing(owner, name="Spring")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    add = page.get_by_role("button", name=ui.t("Add ticked to it"))
    expect(add).to_be_disabled()

    for name in ("anna", "vera"):
        page.get_by_label(ui.t("Tick %(email)s", email=f"{name}@example.com")).check()
    page.get_by_label(ui.t("The mailing to add the ticked clients to")).select_option(
        label="Spring"
    )
    ui.look(page)
    add.click()

    expect(
        page.get_by_text(
            ui.tn(
                "%(num)s client added to “%(mailing)s”.",
                "%(num)s clients added to “%(mailing)s”.",
                2,
                mailing="Spring",
            )
        )
    ).to_be_visible()
    db.session.expire_all()
    assert sorted(client.email for client in db.session.get(Mailing, mailing.id).clients) == [
        "anna@example.com",
        "vera@example.com",
    ]
    ui.assert_translated()
