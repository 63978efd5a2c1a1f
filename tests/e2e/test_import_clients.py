"""A user imports a Russian Excel CSV, previews it, confirms, and deletes a client (CSRF on);
a workbook imports the same way."""

from __future__ import annotations

from playwright.sync_api import expect

from mailer.extensions import db
from mailer.mailings.client_import import background
from mailer.models import ClientImport, utcnow
from tests import factories
from tests.e2e.ui import REPORT_WAIT, log_in
from tests.test_mailings.test_import import WORKBOOKS, _workbook


def _log_in(page, user) -> None:
    page.goto("/auth/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").last.click()


def test_import_preview_confirm_and_delete_with_confirmation(page, user, tmp_path):
    _log_in(page, user)
    csv_file = tmp_path / "clients.csv"
    lines = ["E-mail;ФИО;Комментарий", "anna@example.com;Анна Иванова;с выставки", "not-an-email;;"]
    csv_file.write_bytes("\r\n".join(lines).encode("cp1251"))
    page.goto("/clients/")
    page.get_by_role("link", name="Import CSV or Excel").click()
    page.set_input_files("input[type=file]", str(csv_file))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#encoding")).to_have_text("Windows-1251")
    expect(page.get_by_role("cell", name="Анна Иванова")).to_be_visible()

    page.get_by_role("button", name="Import 1 row").click()
    expect(page.locator("#imported")).to_have_text("Imported 1 client.", timeout=REPORT_WAIT)
    expect(page.get_by_text("not-an-email")).to_be_visible()

    page.get_by_role("link", name="Go to clients").click()
    expect(page.get_by_text("anna@example.com")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete anna@example.com", exact=True).click()
    expect(page.get_by_text("anna@example.com")).to_be_visible()  # dismissed: still there
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete anna@example.com", exact=True).click()
    expect(page.get_by_text("Client deleted.")).to_be_visible()
    expect(page.get_by_text("No clients yet.")).to_be_visible()


def test_a_workbook_imports_from_its_sheet_in_the_users_language(open_page, ui, tmp_path):
    """LibreOffice's .xlsx (tests/test_mailings/workbooks): four rows, one not an address."""
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    page.get_by_role("link", name=ui.t("Import CSV or Excel")).click()
    workbook = page.get_by_label(ui.t("Spreadsheet or CSV file"))
    workbook.set_input_files(WORKBOOKS / "clients.xlsx")
    # While the file is on its way the button says so (seen here with the request stopped
    # before it leaves: a listener after mailer's own cancels it).
    page.evaluate("addEventListener('submit', (event) => event.preventDefault(), {once: true})")
    page.get_by_role("button", name=ui.t("Upload and preview")).click()
    expect(page.locator("main form button[type=submit]")).to_have_text(ui.t("Reading the file…"))
    page.reload()
    workbook.set_input_files(WORKBOOKS / "clients.xlsx")
    page.get_by_role("button", name=ui.t("Upload and preview")).click()
    expect(page.locator("#sheet")).to_have_text("clients")
    expect(page.get_by_role("cell", name="Глеб Орлов", exact=True)).to_be_visible()
    ui.look(page)

    page.get_by_role("button", name=ui.tn("Import %(num)s row", "Import %(num)s rows", 3)).click()
    expect(page.locator("#imported")).to_have_text(
        ui.tn("Imported %(num)s client.", "Imported %(num)s clients.", 3), timeout=REPORT_WAIT
    )
    ui.look(page)
    ui.assert_translated()


def test_another_sheet_of_a_workbook_is_chosen_on_its_preview(open_page, ui, tmp_path):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    book = tmp_path / "book.xlsx"
    book.write_bytes(
        _workbook(
            {
                # The user's words, in Russian: the Russian page shows no English of its own.
                "Сводка": [["Итоги по месяцам"], ["Май", 2]],
                "Клиенты": [["email", "name"], ["anna@example.com", "Анна"]],
            }
        )
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/import")
    page.get_by_label(ui.t("Spreadsheet or CSV file")).set_input_files(book)
    page.get_by_role("button", name=ui.t("Upload and preview")).click()
    expect(page.locator("#sheet")).to_contain_text("Сводка")
    ui.look(page)

    page.get_by_label(ui.t("Sheet to import")).select_option(label="Клиенты")
    page.get_by_role("button", name=ui.t("Preview this sheet")).click()

    expect(page.locator("#sheet")).to_contain_text("Клиенты")
    expect(page.get_by_role("cell", name="anna@example.com")).to_be_visible()
    page.get_by_role("button", name=ui.tn("Import %(num)s row", "Import %(num)s rows", 1)).click()
    expect(page.locator("#imported")).to_have_text(
        ui.tn("Imported %(num)s client.", "Imported %(num)s clients.", 1), timeout=REPORT_WAIT
    )
    ui.assert_translated()


def test_an_import_in_progress_shows_the_rows_read_then_its_report(open_page, ui, live_app):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    task = factories.make_client_import(
        owner, status="running", rows_expected=3, started_at=utcnow(), tries=1
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    state = page.locator("#import-progress [data-state]")

    with live_app.app_context(), background.Heartbeat(task.id) as heartbeat:  # the worker's
        heartbeat.rows = 2
        page.goto(f"/clients/imports/{task.id}")
        expect(state).to_have_text(
            ui.t("Importing: %(rows)s of %(total)s rows read…", rows=2, total=3), timeout=10_000
        )
        expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "2")
        ui.look(page)
        # The worker ends it: the page's next check reloads it with the report.
        done = {"status": "done", "imported": 3, "finished_at": utcnow()}
        db.session.execute(db.update(ClientImport).filter_by(id=task.id).values(**done))
        db.session.commit()
    heartbeat.forget()

    expect(page.locator("#imported")).to_have_text(
        ui.tn("Imported %(num)s client.", "Imported %(num)s clients.", 3), timeout=REPORT_WAIT
    )
    ui.assert_translated()


def test_an_import_waiting_for_a_worker_is_on_the_client_list_and_cancelled_from_its_page(
    open_page, ui
):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    task = factories.make_client_import(
        owner, filename="big.csv", status="queued", queued_at=utcnow(), rows_expected=3
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/")
    underway = page.locator(f"[data-import-underway='{task.id}']")
    expect(underway).to_contain_text(
        ui.t("“%(file)s” is waiting for a worker to import it.", file="big.csv")
    )
    ui.look(page)

    underway.get_by_role("link", name=ui.t("See the import")).click()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name=ui.t("Cancel this import")).click()

    expect(page.get_by_text(ui.t("Import cancelled; nothing was imported."))).to_be_visible()
    assert questions == [ui.t("Cancel this import? Nothing of its file will be imported.")]
    expect(underway).to_have_count(0)
    ui.look(page)
    ui.assert_translated()


def test_the_columns_of_a_header_in_unknown_words_are_chosen_on_the_preview(
    open_page, ui, tmp_path
):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    csv_file = tmp_path / "kontakte.csv"
    csv_file.write_text("Kontakt;Adresse\nАнна;anna@example.com\nБорис;boris@example.com\n")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto("/clients/import")
    page.get_by_label(ui.t("Spreadsheet or CSV file")).set_input_files(csv_file)
    page.get_by_role("button", name=ui.t("Upload and preview")).click()
    expect(page.locator("#nothing-to-import")).to_be_visible()  # its addresses: column 2
    ui.look(page)

    page.get_by_label(ui.t("Email"), exact=True).select_option(label="2. Adresse")
    page.get_by_label(ui.t("Full name"), exact=True).select_option(label="1. Kontakt")
    # While the file is read again the button says so (seen with the request stopped before
    # it leaves: a listener after mailer's own cancels it; then the form is sent as it is).
    page.evaluate("addEventListener('submit', (event) => event.preventDefault(), {once: true})")
    page.get_by_role("button", name=ui.t("Preview with these columns")).click()
    expect(page.locator("#columns button[type=submit]")).to_have_text(ui.t("Reading the file…"))
    page.locator("#columns form").evaluate("form => form.submit()")

    expect(page.locator("#header")).to_have_text("Kontakt | Adresse")
    page.get_by_role("button", name=ui.tn("Import %(num)s row", "Import %(num)s rows", 2)).click()
    expect(page.locator("#imported")).to_have_text(
        ui.tn("Imported %(num)s client.", "Imported %(num)s clients.", 2), timeout=REPORT_WAIT
    )
    ui.assert_translated()


def test_the_mailings_ticked_on_a_preview_stay_ticked_when_other_columns_are_previewed(
    page, user, tmp_path
):
    """The columns form is a form of its own above the mailings' boxes: it carries their
    ticks, or the page asked again would tick anew the one the user unticked."""
    taking = factories.make_mailing(user, name="Monthly report", takes_new_clients=True)
    audit = factories.make_mailing(user, name="Audit send")
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("email;name;note\nanna@example.com;Анна;met at the fair\n")
    _log_in(page, user)
    page.goto("/clients/import")
    page.set_input_files("input[type=file]", str(csv_file))
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_label("Monthly report").uncheck()
    page.get_by_label("Audit send").check()

    page.locator("#columns summary").click()
    page.get_by_label("Comment", exact=True).select_option(label="(none)")
    page.get_by_role("button", name="Preview with these columns").click()

    expect(page.get_by_role("cell", name="met at the fair")).to_have_count(0)
    expect(page.get_by_label("Audit send")).to_be_checked()
    expect(page.get_by_label("Monthly report")).not_to_be_checked()
    page.get_by_role("button", name="Import 1 row").click()
    expect(page.locator("#imported")).to_have_text("Imported 1 client.", timeout=REPORT_WAIT)
    db.session.expire_all()
    assert [client.email for client in audit.clients] == ["anna@example.com"]
    assert taking.clients == []
