"""The journeys of issue 7, clicked (and typed) through in a real browser, in English and Russian.

Each journey runs twice: `[en]` with an English browser and user, `[ru]` with
Russian ones. The Russian run is journey 5: every page it reaches must show no
English string of the app's catalogue (`ui.Interface.look`). Every page the
journeys reach must also label each visible form control, and the account,
client and message forms are filled and sent with the keyboard alone.

Journeys start from the state the one before left (made with the factories),
so each runs and fails on its own.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import getaddresses
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from mailer.models import User
from tests import factories
from tests.e2e.ui import log_in, outbox, tab_and_type, tab_to, text_of

PASSWORD = factories.PASSWORD
ZONE = "Europe/Moscow"

# The people and words of each journey, in the journey's language: a Russian user
# writes Russian, so English on a Russian page can only come from the interface.
DATA = {
    "en": {
        "visitor": "Vera Visitor",
        "csv_header": "email,full_name,comment",
        "owner": "Olga Owner",
        "manager": "Max Manager",
        "block_reason": "Three recipients complained of spam",
        "writer": "Wendy Writer",
        "clients": [
            ("anna@example.com", "Anna Ivanova", "met at the fair"),
            ("boris@example.com", "Boris Petrov", ""),
            ("clara@example.com", "Clara Smirnova", "a reader"),
        ],
        "typed_client": ("dmitry@example.com", "Dmitry Orlov", "typed in by keyboard"),
        "subject": "News for {{ client.full_name }}",
        "body": "Dear {{ client.full_name }},\nthis letter goes to {{ client.email }} only.",
        "article": ("How we send our letters", "Every *client* gets a letter of their own."),
    },
    "ru": {
        "visitor": "Вера Гостева",
        "csv_header": "Эл. почта,ФИО,Комментарий",
        "owner": "Ольга Владелец",
        "manager": "Максим Менеджеров",
        "block_reason": "Трое получателей пожаловались на спам",
        "writer": "Варвара Писарева",
        "clients": [
            ("anna@example.com", "Анна Иванова", "с выставки"),
            ("boris@example.com", "Борис Петров", ""),
            ("clara@example.com", "Клара Смирнова", "читательница"),
        ],
        "typed_client": ("dmitry@example.com", "Дмитрий Орлов", "набран с клавиатуры"),
        "subject": "Новости для {{ client.full_name }}",
        "body": "Здравствуйте, {{ client.full_name }}!\n"
        "Это письмо уходит только на {{ client.email }}.",
        "article": ("Как мы рассылаем письма", "Каждый *клиент* получает своё письмо."),
    },
}


def personalised(template: str, name: str, email: str) -> str:
    return template.replace("{{ client.full_name }}", name).replace("{{ client.email }}", email)


def flash(page: Page, text: str):
    return page.locator("main .alert").filter(has_text=text)


def nav_link(page: Page, name: str):
    return page.locator("nav").get_by_role("link", name=name, exact=True)


def staff_link(page: Page, ui, name: str):
    """A staff screen's link, in the navbar's Manage menu (opened)."""
    page.locator("nav").get_by_role("button", name=ui.t("Manage"), exact=True).click()
    return nav_link(page, name)


# -- 1. register, confirm, log in ---------------------------------------------------------------


def test_visitor_registers_confirms_the_address_and_logs_in(open_page, ui, app, live_server):
    name = DATA[ui.lang]["visitor"]
    address = "vera@example.com"
    page = open_page(ui.lang, timezone_id="Asia/Vladivostok")
    page.goto("/")
    expect(page.get_by_role("heading", name=ui.t("Across the service"))).to_be_visible()
    ui.look(page)
    nav_link(page, ui.t("Register")).click()
    expect(page.get_by_role("heading", name=ui.t("Create an account"))).to_be_visible()
    ui.look(page)

    # The keyboard alone: Tab to the first field, each Tab to the next, Enter sends.
    tab_to(page, "#email")
    page.keyboard.type(address)
    tab_and_type(page, "#full_name", name)
    tab_and_type(page, "#password", PASSWORD)
    tab_and_type(page, "#password_confirm", PASSWORD)
    page.keyboard.press("Enter")
    expect(
        flash(page, ui.t("Check your inbox: we sent a link to confirm your address."))
    ).to_be_visible()
    ui.look(page)
    # The account starts in the browser's time zone.
    assert User.query.filter_by(email=address).one().timezone == "Asia/Vladivostok"

    # Logging in before confirming says what to do.
    page.get_by_label(ui.t("Email")).fill(address)
    page.get_by_label(ui.t("Password")).fill(PASSWORD)
    page.locator("main form").get_by_role("button", name=ui.t("Log in")).click()
    expect(
        page.get_by_role("alert").filter(
            has_text=ui.t("Please confirm your email address first: open the link we sent you.")
        )
    ).to_be_visible()
    expect(page.get_by_role("link", name=ui.t("Send me a new link"))).to_be_visible()
    ui.look(page)

    [message] = [m for m in outbox(app.config["MAIL_OUTBOX"]) if m["To"] == address]
    assert message["Subject"] == ui.t("Confirm your email address")
    text = text_of(message)
    assert text.startswith(ui.t("Hello,"))  # no name: whoever registers types it
    assert name not in text
    ui.read(text, "the confirmation email")
    link = re.search(r"https?://\S+/auth/confirm/\S+", text).group()
    assert link.startswith(live_server), "the link points at the site the visitor uses"

    page.goto(link)
    expect(page.get_by_role("heading", name=ui.t("Confirm your address"))).to_be_visible()
    ui.look(page)
    page.get_by_role("button", name=ui.t("Confirm my email address")).click()
    expect(flash(page, ui.t("Your address is confirmed. You can log in now."))).to_be_visible()
    ui.look(page)

    tab_to(page, "#email")
    page.keyboard.type(address)
    tab_and_type(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("nav").get_by_role("button", name=name)).to_be_visible()
    expect(page.get_by_role("heading", name=ui.t("Your mailings"))).to_be_visible()
    expect(nav_link(page, ui.t("Clients"))).to_be_visible()
    ui.look(page)
    ui.assert_translated()


# -- 2. import, write, preview, create, send now, progress, attempts, outbox -------------------


def test_user_imports_writes_previews_sends_now_and_gets_one_attempt_per_client(
    open_page, ui, app, live_app, tmp_path, monkeypatch
):
    monkeypatch.setitem(live_app.config, "CLIENT_IMPORT_DIR", str(tmp_path / "imports"))
    data = DATA[ui.lang]
    owner = factories.make_user(
        "olga@example.com", full_name=data["owner"], locale=ui.lang, timezone=ZONE
    )
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, PASSWORD)

    nav_link(page, ui.t("Clients")).click()
    expect(page.get_by_text(ui.t("No clients yet."))).to_be_visible()
    ui.look(page)
    page.get_by_role("link", name=ui.t("Import CSV or Excel")).click()
    ui.look(page)
    lines = [data["csv_header"]]
    lines += [",".join(client) for client in data["clients"][:2]]
    lines += ["not-an-email,Someone,", ",".join(data["clients"][2])]
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.get_by_label(ui.t("Spreadsheet or CSV file")).set_input_files(csv_file)
    page.get_by_role("button", name=ui.t("Upload and preview")).click()
    expect(page.locator("#row-count")).to_have_text("4")
    ui.look(page)
    page.get_by_role("button", name=ui.tn("Import %(num)s row", "Import %(num)s rows", 3)).click()

    # The report: three imported, the bad line named with its number and reason.
    expect(page.locator("#imported")).to_have_text(
        ui.tn("Imported %(num)s client.", "Imported %(num)s clients.", 3)
    )
    expect(page.locator("#rejected")).to_have_text(
        ui.tn("%(num)s line was not imported:", "%(num)s lines were not imported:", 1)
    )
    [line, address, reason] = page.locator("tbody tr td").all_inner_texts()
    assert (line, address) == ("4", "not-an-email")
    assert reason.startswith(ui.t("invalid email: %(reason)s", reason=""))
    ui.look(page)
    page.get_by_role("link", name=ui.t("Go to clients")).click()
    for address, name, _comment in data["clients"]:
        expect(page.get_by_role("row").filter(has_text=address)).to_contain_text(name)
    ui.look(page)

    # One more client, typed in with the keyboard alone.
    page.get_by_role("link", name=ui.t("New client"), exact=True).click()
    ui.look(page)
    typed_address, typed_name, typed_comment = data["typed_client"]
    tab_to(page, "#email")
    page.keyboard.type(typed_address)
    tab_and_type(page, "#full_name", typed_name)
    tab_and_type(page, "#comment", typed_comment)
    page.keyboard.press("Tab")
    expect(page.locator("main form").get_by_role("button", name=ui.t("Save"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(flash(page, ui.t("Client added."))).to_be_visible()
    clients = [*data["clients"], data["typed_client"]]
    expect(page.locator("main tbody tr")).to_have_count(len(clients))

    # A message with placeholders, written with the keyboard, previewed per client.
    nav_link(page, ui.t("Messages")).click()
    expect(page.get_by_text(ui.t("No messages yet."))).to_be_visible()
    ui.look(page)
    page.get_by_role("link", name=ui.t("Write your first message")).click()
    ui.look(page)
    tab_to(page, "#subject")
    page.keyboard.type(data["subject"])
    page.keyboard.press("Tab")  # each field's placeholder toolbar is one stop
    expect(page.locator("[aria-controls=subject] button").first).to_be_focused()
    tab_and_type(page, "#body_text", data["body"])
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the optional HTML body stays empty
    expect(page.locator("#body_html")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(flash(page, ui.t("Message saved."))).to_be_visible()
    first_address, first_name, _ = clients[0]  # the preview starts with the first by email
    expect(page.locator("#rendered-subject")).to_have_text(
        personalised(data["subject"], first_name, first_address)
    )
    ui.look(page)
    second_address, second_name, _ = clients[1]
    page.get_by_label(ui.t("Show it as this client receives it")).select_option(
        label=f"{second_address} — {second_name}"
    )
    page.get_by_role("button", name=ui.t("Show"), exact=True).click()
    expect(page.locator("#rendered-subject")).to_have_text(
        personalised(data["subject"], second_name, second_address)
    )
    expect(page.locator("#rendered-text")).to_have_text(
        personalised(data["body"], second_name, second_address)
    )

    # A test email to the owner, as that client gets it; the preview stays on the client.
    # Without a mail server it is written to the outbox, and the flash opens it.
    page.get_by_role("button", name=ui.t("Send me a test")).click()
    written = ui.t(
        "No mail server is set up, so the test email was written to the outbox"
        " instead of sent to %(email)s.",
        email=owner.email,
    )
    expect(flash(page, written)).to_be_visible()
    expect(page.locator("#rendered-subject")).to_have_text(
        personalised(data["subject"], second_name, second_address)
    )
    flash(page, written).get_by_role("link", name=ui.t("Open it")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        ui.t("The test email as written to the outbox")
    )
    expect(page.locator("#rendered-subject")).to_have_text(
        f"{ui.t('[Test]')} {personalised(data['subject'], second_name, second_address)}"
    )
    ui.look(page)
    page.go_back()
    [test_email] = [m for m in outbox(app.config["MAIL_OUTBOX"]) if m["To"] == owner.email]
    assert test_email["Subject"] == (
        f"{ui.t('[Test]')} {personalised(data['subject'], second_name, second_address)}"
    )
    assert personalised(data["body"], second_name, second_address) in text_of(test_email)
    ui.look(page)

    # A daily mailing from tomorrow 09:00 (the owner's zone) to every client.
    nav_link(page, ui.t("Mailings")).click()
    expect(page.get_by_text(ui.t("No mailings yet."))).to_be_visible()
    ui.look(page)
    page.get_by_role("link", name=ui.t("Create your first mailing")).click()
    ui.look(page)
    tomorrow = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    page.get_by_label(ui.t("Message"), exact=True).select_option(label=data["subject"])
    page.get_by_label(ui.t("Start"), exact=True).fill(f"{tomorrow}T09:00")
    page.get_by_label(ui.t("End"), exact=True).fill(f"{tomorrow + timedelta(days=30)}T09:00")
    page.get_by_label(ui.t("Frequency"), exact=True).select_option("daily")
    expect(page.get_by_label(ui.t("Time zone"), exact=True)).to_have_value(ZONE)
    page.get_by_label(ui.t("Select all shown")).check()
    page.locator("main form").get_by_role("button", name=ui.t("Save")).click()

    expect(flash(page, ui.t("Mailing created."))).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text(ui.t("created"))
    details = page.locator("main dl")
    expect(details).to_contain_text(ui.t("Daily"))
    expect(details.locator("dd").nth(1)).to_have_text(str(len(clients)))
    upcoming = page.locator("#upcoming li")
    expect(upcoming).to_have_count(5)
    expect(upcoming.first).to_contain_text(f"{tomorrow} 09:00")  # the owner's zone, not UTC
    ui.look(page)

    # Send now, double-clicked and confirmed: asked once, sent once; the progress updates
    # by itself until it finishes.
    questions = []

    def confirm(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.get_by_role("button", name=ui.t("Send now")).dblclick()
    expect(
        flash(page, ui.t("Sending started. The progress below updates by itself."))
    ).to_be_visible()
    page.remove_listener("dialog", confirm)
    assert questions == [ui.t("Send this mailing to all its clients now, outside its schedule?")]
    progress = page.locator("#send-progress")
    expect(progress.locator("[data-state]")).to_have_text(ui.t("Finished."), timeout=60_000)
    expect(progress.locator("[data-count=sent]")).to_have_text(str(len(clients)))
    expect(progress.locator("[data-count=failed]")).to_have_text("0")
    expect(progress.locator("[data-count=total]")).to_have_text(str(len(clients)))
    expect(page.get_by_role("button", name=ui.t("Send now"))).to_be_enabled()  # once finished
    [run] = page.locator("main table tbody tr").all()  # the table of runs follows, unreloaded
    expect(run.locator("td").nth(1)).to_have_text(str(len(clients)))
    expect(run.locator("td").nth(2)).to_have_text("0")
    expect(run.locator("[data-finished]")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"))
    ui.look(page)

    page.reload()
    expect(page.locator("h1 .badge")).to_have_text(ui.t("started"))
    [run] = page.locator("main table tbody tr").all()
    expect(run.locator("td").nth(1)).to_have_text(str(len(clients)))
    expect(run.locator("td").nth(2)).to_have_text("0")
    run.get_by_role("link", name=ui.t("Attempts")).click()
    expect(page.get_by_role("heading", name=ui.t("Attempt log"))).to_be_visible()
    attempts = page.locator("main tbody tr")
    expect(attempts).to_have_count(len(clients))
    expect(attempts.get_by_text(ui.t("success"), exact=True)).to_have_count(len(clients))
    for address, _name, _comment in clients:
        expect(attempts.filter(has_text=address)).to_have_count(1)
    ui.look(page)
    # Without a mail server each email is a file in the outbox, which the log opens.
    first_address, first_name, _ = clients[0]
    attempts.filter(has_text=first_address).locator("a[href$='/email']:visible").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        ui.t("The email as written to the outbox")
    )
    expect(page.locator("#rendered-subject")).to_have_text(
        personalised(data["subject"], first_name, first_address)
    )
    ui.look(page)
    page.go_back()

    # The outbox: one email per client, each to that client alone, in their own words
    # (and the owner's test email).
    emails = [m for m in outbox(app.config["MAIL_OUTBOX"]) if m["To"] != owner.email]
    assert sorted(m["To"] for m in emails) == sorted(address for address, _n, _c in clients)
    for message in emails:
        [(_, recipient)] = getaddresses([message["To"]])
        name = next(name for address, name, _c in clients if address == recipient)
        assert message["Subject"] == personalised(data["subject"], name, recipient)
        text = text_of(message)
        assert personalised(data["body"], name, recipient) in text
        others = [address for address, _n, _c in clients if address != recipient]
        assert not any(other in message.as_string() for other in others)
    ui.assert_translated()


# -- 3. a manager blocks the user and disables a mailing -----------------------------------------


def _confirm_twice(page: Page, button, question: str) -> None:
    """Press `button`, dismiss its confirmation (nothing happens), then press again and accept."""
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    button.click()
    assert asked == [question]
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    button.click()


def test_manager_blocks_the_user_and_disables_a_mailing_and_the_user_cannot_log_in(open_page, ui):
    data = DATA[ui.lang]
    owner = factories.make_user("olga@example.com", full_name=data["owner"], locale=ui.lang)
    address, name, _comment = data["clients"][0]
    client = factories.make_client(owner, address, full_name=name)
    message = factories.make_message(owner, subject=data["subject"])
    mailing = factories.make_mailing(owner, message=message, clients=[client], frequency="daily")
    manager = factories.make_user(
        "max@example.com", full_name=data["manager"], roles=["manager"], locale=ui.lang
    )
    user_page = open_page(ui.lang)
    log_in(user_page, ui, owner.email, PASSWORD)
    page = open_page(ui.lang)
    log_in(page, ui, manager.email, PASSWORD)

    staff_link(page, ui, ui.t("Users")).click()
    ui.look(page)
    row = page.get_by_role("row").filter(has_text=owner.email)
    # The status is in the row twice, under the address for a phone and in its column;
    # until the page's styles apply both show, so wait for the one that stays.
    expect(row.get_by_text(ui.t("active"), exact=True).locator("visible=true")).to_have_count(1)
    # Block asks why on a page of its own; Cancel there blocks no one.
    block = row.get_by_role("link", name=ui.t("Block"))
    block.click()
    expect(page.get_by_role("heading")).to_have_text(ui.t("Block %(email)s?", email=owner.email))
    page.get_by_role("link", name=ui.t("Cancel")).click()
    expect(row.get_by_text(ui.t("active"), exact=True).locator("visible=true")).to_have_count(1)
    block.click()
    page.get_by_label(ui.t("Reason")).fill(data["block_reason"])
    ui.look(page)
    page.locator("main form").get_by_role("button", name=ui.t("Block")).click()
    expect(flash(page, ui.t("%(email)s is blocked.", email=owner.email))).to_be_visible()
    expect(row.get_by_text(ui.t("blocked"), exact=True).locator("visible=true")).to_have_count(1)
    ui.look(page)

    staff_link(page, ui, ui.t("All mailings")).click()
    ui.look(page)
    row = page.locator(f"tr[data-mailing='{mailing.id}']")
    expect(row).to_contain_text(owner.email)
    # The mailing's page shows what it sends, as a sample client gets it.
    row.get_by_role("link").click()
    expect(page.locator("#rendered-subject")).to_contain_text(ui.t("Sample Client"))
    expect(page.locator("#mailing-owner")).to_have_text(owner.email)
    ui.look(page)
    page.go_back()
    question = ui.t(
        "Disable mailing #%(id)d of %(owner)s? It sends nothing more until enabled.",
        id=mailing.id,
        owner=owner.email,
    )
    _confirm_twice(page, row.get_by_role("button", name=ui.t("Disable")), question)
    expect(flash(page, ui.t("Mailing #%(id)d disabled.", id=mailing.id))).to_be_visible()
    expect(row.locator(".badge")).to_have_text(ui.t("disabled"))
    expect(row.get_by_role("button", name=ui.t("Enable"))).to_be_visible()
    ui.look(page)

    # The user, still on a page, is logged out at the next click ...
    blocked = ui.t(
        "Your account has been blocked. The reason given: “%(reason)s”. Contact a manager.",
        reason=data["block_reason"],
    )
    nav_link(user_page, ui.t("Mailings")).click()
    expect(user_page).to_have_url(re.compile(r"/auth/login"))
    expect(flash(user_page, blocked)).to_be_visible()
    ui.look(user_page)
    # ... and cannot log in again: the right password gets a clear message.
    user_page.get_by_label(ui.t("Email")).fill(owner.email)
    user_page.get_by_label(ui.t("Password")).fill(PASSWORD)
    user_page.locator("main form").get_by_role("button", name=ui.t("Log in")).click()
    expect(user_page.locator("main .alert-danger")).to_have_text(blocked)
    expect(nav_link(user_page, ui.t("Mailings"))).to_have_count(0)
    ui.look(user_page)
    ui.assert_translated()


# -- 4. a content manager publishes an article; visitors see it and count -------------------------


def test_content_manager_publishes_an_article_that_shows_on_home_and_blog_with_views(open_page, ui):
    title, body = DATA[ui.lang]["article"]
    writer = factories.make_user(
        "wendy@example.com",
        full_name=DATA[ui.lang]["writer"],
        roles=["content-manager"],
        locale=ui.lang,
    )
    page = open_page(ui.lang)
    log_in(page, ui, writer.email, PASSWORD)
    staff_link(page, ui, ui.t("Admin")).click()
    expect(page.get_by_role("heading", name=ui.t("Admin panel"))).to_be_visible()
    ui.look(page)

    page.get_by_role("link", name=ui.t("Write an article")).click()
    page.get_by_label(ui.t("Title")).fill(title)
    page.get_by_label(ui.t("Text (Markdown)")).fill(body)
    expect(page.get_by_label(ui.t("Published"), exact=True)).not_to_be_checked()
    ui.look(page)
    page.locator("form.admin-form [type=submit]").first.click()
    row = page.get_by_role("row").filter(has_text=title)
    expect(row).to_be_visible()

    # A draft: the writer can preview it, visitors do not see it yet.
    visitor = open_page(ui.lang)
    visitor.goto("/blog/")
    expect(
        visitor.get_by_text(ui.t("No articles have been published yet. Come back soon."))
    ).to_be_visible()
    ui.look(visitor)
    page.goto(row.get_by_role("link", name=ui.t("preview")).get_attribute("href"))
    expect(
        page.get_by_text(ui.t("Preview: this article is not published, visitors cannot see it."))
    ).to_be_visible()
    page.go_back()

    # Publish from the list: select it, then "With selected" -> Publish, confirmed.
    row.locator("input[type=checkbox]").check()
    page.get_by_role("button", name=ui.admin_t("With selected")).click()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator(".dropdown-menu").get_by_text(ui.t("Publish"), exact=True).click()
    expect(
        page.get_by_text(ui.tn("%(num)s article published.", "%(num)s articles published.", 1))
    ).to_be_visible()
    assert questions == [ui.t("Publish the selected articles?")]
    # Flask-Admin's own list page: its checkboxes and icon buttons carry only a title.
    ui.look(page, labels=False)

    visitor.goto("/")
    card = visitor.get_by_role("article").filter(has_text=title)
    expect(card).to_be_visible()
    ui.look(visitor)
    nav_link(visitor, ui.t("Blog")).click()
    expect(visitor.get_by_role("heading", name=title)).to_be_visible()
    ui.look(visitor)
    visitor.get_by_role("link", name=title).click()
    expect(visitor.get_by_role("heading", name=title, level=1)).to_be_visible()
    views = visitor.locator("#views")
    expect(views).to_have_text(ui.tn("%(num)s view", "%(num)s views", 1))
    ui.look(visitor)
    visitor.reload()
    expect(views).to_have_text(ui.tn("%(num)s view", "%(num)s views", 2))
    another = open_page(ui.lang)
    another.goto(visitor.url)
    expect(another.locator("#views")).to_have_text(ui.tn("%(num)s view", "%(num)s views", 3))

    page.reload()
    expect(page.get_by_role("row").filter(has_text=title)).to_contain_text("3")
    ui.assert_translated()
