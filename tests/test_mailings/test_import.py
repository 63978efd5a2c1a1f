"""CSV import of clients: encodings, separators, header, preview, a report of each bad line."""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import current_app

from mailer.extensions import db
from mailer.mailings import client_import, client_queries, mailing_queries
from mailer.mailings.client_import import reading, uploads
from mailer.models import Client, ClientImport
from tests import factories
from tests.queued import run_queued_jobs


def _imported(app, owner, lines: list[str]) -> client_import.ImportReport:
    """The report of importing `lines` for `owner`, committed, as the confirm step does."""
    data = "\n".join(lines).encode()
    with app.test_request_context():
        report = client_import.import_rows(owner=owner, rows=client_import.read_rows(data))
        db.session.commit()
    return report


@pytest.fixture(autouse=True)
def _queue(fresh_queue):
    """With Redis, the import's job waits on an empty queue of its own for `_press`."""


LONG_NAME = "Я" * 201
# One bad line of each kind, with Cyrillic names (line numbers count the header).
LINES = [
    "email;full name;comment",
    "anna@example.com;Анна Иванова;с выставки",
    "not-an-email;Борис;",
    "ANNA@example.com;Анна снова;",
    "known@example.com;Уже клиент;",
    f"long@example.com;{LONG_NAME};",
    "vera@example.com;Вера Петрова;",
]


def _upload(browser, data: bytes, filename: str = "clients.csv"):
    """The preview of uploading `data` (the upload page again, when it is refused)."""
    return browser.post(
        "/clients/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def _press(browser, preview, button: str = "confirm", ticked=None):
    """Press the preview page's Import ("confirm") or Cancel button: its form's fields as
    shown, with the mailings it ticks (or `ticked`, as the user leaves them). After Import,
    a worker runs the import's job; the page it leads to."""
    form = re.search(
        rf'<form method="post" action="(/clients/imports/\d+/{button})"[^>]*>(.*?)</form>',
        preview.text,
        re.S,
    )
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2]))
    boxes = re.findall(r'<input[^>]*name="mailing_ids"[^>]*>', form[2])
    shown_ticked = [re.search(r'value="(\d+)"', box)[1] for box in boxes if " checked" in box]
    fields["mailing_ids"] = shown_ticked if ticked is None else [str(id_) for id_ in ticked]
    response = browser.post(form[1], data=fields)
    if button != "confirm" or response.status_code != 302:
        return response
    run_queued_jobs(current_app)
    return browser.get(response.location)


def _import(browser, data: bytes) -> str:
    """The report of uploading `data` and pressing Import."""
    return _press(browser, _upload(browser, data)).text


def _import_id(page) -> int:
    return int(re.search(r'action="/clients/imports/(\d+)/', page.text)[1])


def _emails(owner) -> list[str]:
    db.session.expire_all()
    return sorted(c.email for c in Client.owned_by(owner))


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (BOM)"), ("cp1251", "Windows-1251")],
)
def test_import_reports_each_bad_line_with_its_number_and_reason(login, user, encoding, shown):
    factories.make_client(user, "known@example.com")
    browser = login(user)
    preview = _upload(browser, "\r\n".join(LINES).encode(encoding))
    assert preview.status_code == 200
    assert shown in preview.text
    assert "Анна Иванова" in preview.text
    assert _emails(user) == ["known@example.com"]  # nothing imported before confirming

    report = _press(browser, preview)
    assert report.status_code == 200
    assert "Imported 2 clients." in report.text
    text = report.text
    for line, reason in [
        (3, "invalid email"),
        (4, "duplicate in file (first on line 2)"),
        (5, "already a client"),
        (6, "too long: full name"),
    ]:
        assert f"<td>{line}</td>" in text
        assert reason in text
    assert _emails(user) == ["anna@example.com", "known@example.com", "vera@example.com"]
    anna = Client.owned_by(user).filter_by(email="anna@example.com").one()
    assert (anna.full_name, anna.comment) == ("Анна Иванова", "с выставки")


def test_an_international_domain_in_ascii_is_the_address_in_letters(login, user):
    factories.make_client(user, "vera@пример.рф")
    lines = ["email", "nina@münchen.de", "NINA@xn--mnchen-3ya.de", "vera@xn--e1afmkfd.xn--p1ai"]

    report = _import(login(user), "\n".join(lines).encode())

    assert "Imported 1 client." in report
    assert "duplicate in file (first on line 2)" in report
    assert "already a client" in report
    assert _emails(user) == ["nina@münchen.de", "vera@пример.рф"]


def test_file_without_header_uses_email_name_comment_columns(login, user):
    browser = login(user)
    preview = _upload(browser, b"anna@example.com,Anna,first\nboris@example.com,Boris,\n")
    assert "none: columns are email, full name, comment" in preview.text
    assert "Imported 2 clients." in _press(browser, preview).text
    anna = Client.owned_by(user).filter_by(email="anna@example.com").one()
    assert (anna.full_name, anna.comment) == ("Anna", "first")


def test_header_columns_are_found_by_name_in_any_order(login, user):
    browser = login(user)
    _import(browser, "Имя\tКомментарий\tE-mail\nАнна\tзаметка\tanna@example.com\n".encode())
    anna = Client.owned_by(user).one()
    assert (anna.email, anna.full_name, anna.comment) == ("anna@example.com", "Анна", "заметка")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a@example.com,Anna\nb@example.com,Boris\n", ","),
        ("a@example.com;Иванов, Иван;x\nb@example.com;Петров, Пётр;y\n", ";"),
        ('a@example.com,"Smith; John",x\nb@example.com,Doe,y\n', ","),
        ("a@example.com\tAnna\nb@example.com\tBoris\n", "\t"),
        ("a@example.com\nb@example.com\n", ","),
    ],
)
def test_delimiter_is_sniffed(text, delimiter):
    assert client_import.parse(text.encode()).delimiter == delimiter


def test_a_row_with_a_quoted_line_break_is_numbered_by_the_line_it_starts_on(app):
    """Where its address is, and the rows after it keep their numbers."""
    parsed = client_import.parse(b'a@example.com,"two\nlines",x\nnot-valid,B,"x\ny"\nc@d.com\n')
    assert [(row.line, row.email) for row in parsed.rows] == [
        (1, "a@example.com"),
        (3, "not-valid"),
        (5, "c@d.com"),
    ]


def test_preview_shows_the_first_twenty_rows_and_the_count(login, user):
    data = "\n".join(f"c{n}@example.com,Client {n}" for n in range(30)).encode()
    preview = _upload(login(user), data)
    assert "c19@example.com" in preview.text
    assert "c20@example.com" not in preview.text
    assert 'id="row-count">30<' in preview.text


def _skipped_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr><td>(\d+)</td><td class="user-text">([^<]*)</td>', html)


def test_preview_lists_every_row_that_will_be_skipped_before_importing(login, user):
    """A repeated line, and a bad one past the first twenty rows shown."""
    lines = [f"c{n}@example.com,Client {n}" for n in range(30)]
    lines[3] = "c0@example.com,The first client again"
    lines[25] = "not-an-email,Someone"
    browser = login(user)
    preview = _upload(browser, "\n".join(lines).encode())

    skipped = re.search(
        r'<details class="mb-3" id="skipped" open>(.*?)</details>',
        preview.text,
        re.S,
    )
    assert "2 rows have a problem and will be skipped" in skipped.group(1)
    assert [(int(line), email) for line, email in _skipped_rows(skipped.group(1))] == [
        (4, "c0@example.com"),
        (26, "not-an-email"),
    ]
    assert "duplicate in file (first on line 1)" in skipped.group(1)
    assert ">Import 28 rows</button>" in preview.text
    assert '<tr class="table-warning">\n      <td>4</td>' in preview.text  # among the first rows
    assert "Imported 28 clients." in _press(browser, preview).text


def test_preview_of_a_file_with_no_importable_row_offers_no_import(login, user):
    preview = _upload(login(user), b"email,name\nnot-an-email,A\n@example.com,B\n")
    assert "2 rows have a problem and will be skipped" in preview.text
    assert "No row of this file can be imported." in preview.text
    assert "/confirm" not in preview.text
    assert f"/clients/imports/{_import_id(preview)}/cancel" in preview.text


def test_preview_of_a_clean_file_says_so(login, user):
    preview = _upload(login(user), b"a@example.com\nb@example.com\n")
    assert 'id="no-problems"' in preview.text
    assert ">Import 2 rows</button>" in preview.text


def test_empty_file_is_refused_with_a_message(login, user):
    response = _upload(login(user), b"email,full name\n\n")
    assert "The file has no rows to import." in response.text


def test_upload_without_a_file_is_refused(login, user):
    response = login(user).post("/clients/import", data={}, content_type="multipart/form-data")
    assert "Choose a file to import." in response.text


def test_an_upload_is_imported_once_however_often_import_is_pressed(login, user):
    browser = login(user)
    preview = _upload(browser, b"a@example.com\n")
    assert "Imported 1 client." in _press(browser, preview).text
    again = _press(browser, preview)  # a second tab's button, or the back button's page
    assert "Imported 1 client." in again.text  # the same import's report, not a second one
    assert "already a client" not in again.text
    assert _emails(user) == ["a@example.com"]
    assert ClientImport.owned_by(user).count() == 1


def test_another_users_import_is_not_found_at_any_step(login, user, other_user):
    theirs = _upload(login(other_user), b"theirs@example.com\n")
    number = _import_id(theirs)
    browser = login(user)

    for path in ("", "/progress", "/confirm", "/cancel", "/again"):
        method = browser.get if path in ("", "/progress") else browser.post
        assert method(f"/clients/imports/{number}{path}").status_code == 404
    assert _emails(user) == []
    assert _emails(other_user) == []
    # Their upload still waits for them: nothing above touched it.
    assert "Imported 1 client." in _press(login(other_user), theirs).text


def test_cancel_forgets_the_upload(login, user):
    browser = login(user)
    preview = _upload(browser, b"a@example.com\n")
    cancelled = _press(browser, preview, "cancel")
    assert cancelled.status_code == 302
    assert "Import cancelled; nothing was imported." in browser.get(cancelled.location).text
    assert _press(browser, preview).status_code == 404
    assert _emails(user) == []


def test_cancel_on_a_preview_whose_import_started_in_another_tab_says_so(login, user):
    browser = login(user)
    preview = _upload(browser, b"a@example.com\n")
    _press(browser, preview)  # Import, in another tab

    cancelled = _press(browser, preview, "cancel")

    page = browser.get(cancelled.location).text
    assert "This import has ended; it can no longer be cancelled." in page
    assert "Imported 1 client." in page
    assert _emails(user) == ["a@example.com"]


def test_an_import_the_queue_cannot_take_goes_back_to_its_preview_and_says_so(
    app_with_no_redis, user, caplog
):
    upload = factories.make_client_import(user)
    browser = app_with_no_redis.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = factories.login_key(user)
    caplog.set_level("WARNING")

    page = browser.post(f"/clients/imports/{upload.id}/confirm", follow_redirects=True).text

    assert "The import could not be handed to a worker just now; try again." in page
    assert ">Import 1 row</button>" in page  # its preview again, to press once more
    db.session.expire_all()
    assert db.session.get(ClientImport, upload.id).status == "pending"
    assert f"client import {upload.id}: not queued, Redis unreachable" in caplog.text
    assert "Traceback" not in caplog.text


def test_two_previews_in_two_tabs_each_import_their_own_file(login, user):
    browser = login(user)
    first = _upload(browser, b"a1@example.com\na2@example.com\n", "f1.csv")
    second = _upload(browser, b"b1@example.com\nb2@example.com\nb3@example.com\n", "f2.csv")
    assert 'id="row-count">2<' in first.text
    assert 'id="row-count">3<' in second.text

    assert "Imported 2 clients." in _press(browser, first).text  # the first tab's Import
    assert _emails(user) == ["a1@example.com", "a2@example.com"]

    assert "Imported 3 clients." in _press(browser, second).text
    assert _emails(user) == [
        "a1@example.com",
        "a2@example.com",
        "b1@example.com",
        "b2@example.com",
        "b3@example.com",
    ]


def test_cancelling_one_preview_leaves_the_other_tabs_upload(login, user):
    browser = login(user)
    first = _upload(browser, b"a@example.com\n")
    second = _upload(browser, b"b@example.com\n")

    _press(browser, first, "cancel")

    assert "Imported 1 client." in _press(browser, second).text
    assert _press(browser, first).status_code == 404
    assert _emails(user) == ["b@example.com"]


def _age(import_id: int, **ago) -> None:
    table = ClientImport.__table__
    moment = datetime.now(UTC) - timedelta(**ago)
    db.session.execute(table.update().where(table.c.id == import_id).values(created_at=moment))
    db.session.commit()


def test_a_new_upload_removes_the_owners_oldest_beyond_the_limit(login, user, monkeypatch):
    monkeypatch.setattr(uploads, "PENDING_MAX_PER_OWNER", 2)
    browser = login(user)
    previews = []
    for number in range(3):
        preview = _upload(browser, f"c{number}@example.com\n".encode())
        _age(_import_id(preview), minutes=10 - number)
        previews.append(preview)

    assert _press(browser, previews[0]).status_code == 404
    assert "Imported 1 client." in _press(browser, previews[1]).text
    assert "Imported 1 client." in _press(browser, previews[2]).text
    assert _emails(user) == ["c1@example.com", "c2@example.com"]


def test_an_upload_never_confirmed_is_removed_after_a_day(login, user, other_user):
    stale = _upload(login(other_user), b"old@example.com\n")
    _age(_import_id(stale), hours=25)
    _upload(login(user), b"new@example.com\n")  # anyone's upload removes what is a day old

    assert _press(login(other_user), stale).status_code == 404


def test_an_owner_keeps_the_reports_of_their_newest_imports(login, user, monkeypatch):
    monkeypatch.setattr(uploads, "ENDED_KEPT_PER_OWNER", 2)
    browser = login(user)
    for number in range(3):
        preview = _upload(browser, f"c{number}@example.com\n".encode(), filename=f"f{number}.csv")
        _age(_import_id(preview), minutes=10 - number)
        _press(browser, preview)

    listed = browser.get("/clients/import").text
    assert "Your latest imports" in listed
    assert ">f0.csv<" in listed  # kept until the next upload
    _upload(browser, b"c3@example.com\n")

    listed = browser.get("/clients/import").text
    assert ">f0.csv<" not in listed
    assert ">f1.csv<" in listed
    assert ">f2.csv<" in listed


def test_import_service_inserts_in_chunks_and_skips_existing(app, user, monkeypatch):
    monkeypatch.setattr(client_import, "CHUNK", 7)
    factories.make_client(user, "c5@example.com")
    data = "\n".join(f"c{n}@example.com,Client {n}" for n in range(40)).encode()
    with app.test_request_context():
        report = client_import.import_rows(owner=user, rows=client_import.parse(data).rows)
        db.session.commit()
    assert report.imported == 39
    assert [(r.line, r.reason) for r in report.rejected] == [(6, "already a client")]
    assert len(_emails(user)) == 40


def test_rows_read_one_by_one_import_like_parsed_ones_across_chunks(app, user, monkeypatch):
    # The import reads, checks and inserts chunk after chunk (two threads on
    # PostgreSQL): duplicates and existing clients are found across chunks.
    monkeypatch.setattr(client_import, "CHUNK", 2)
    factories.make_client(user, "known@example.com")
    lines = [
        "email;name",
        "a@example.com;A",
        "b@example.com;B",
        "known@example.com;K",
        "A@example.com;again",
        "not-an-email;X",
        "c@example.com;C",
    ]
    report = _imported(app, user, lines)
    assert report.imported == 3
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejected] == [
        (4, "already a client"),
        (5, "duplicate in file (first on line 2)"),
        (6, "invalid email"),
    ]
    data = "\n".join(lines).encode()
    assert client_import.parse(data).rows == list(client_import.read_rows(data))


def test_import_changes_the_home_page_counts(login, user):
    browser = login(user)
    browser.get("/")  # the counts are cached now
    _import(browser, b"a@example.com\nb@example.com\n")
    from mailer.main.stats import home_counts

    assert home_counts(user)["clients"] == 2


@pytest.mark.parametrize(
    ("header", "line", "expected"),
    [
        # A postal address beside the email: "Адрес" names an email column only alone.
        (
            "ФИО;Адрес;E-mail;Телефон",
            "Анна;Москва;anna@example.com;+7",
            ("anna@example.com", "Анна"),
        ),
        (
            "Email;Имя;ФИО",
            "anna@example.com;Анна;Иванова Анна",
            ("anna@example.com", "Иванова Анна"),
        ),
    ],
)
def test_the_likelier_of_two_columns_of_one_name_is_taken(app, header, line, expected):
    [row] = client_import.parse(f"{header}\n{line}\n".encode("cp1251")).rows
    assert (row.email, row.full_name) == expected


@pytest.mark.parametrize(
    ("header", "line", "full_name"),
    [
        (
            "E-mail;Фамилия;Имя;Отчество;Компания",
            "a@example.com;Петров;Пётр;Ильич;ООО",
            "Петров Пётр Ильич",
        ),
        ("Фамилия;Имя;E-mail", "Петрова;Анна;a@example.com", "Петрова Анна"),
        ("Имя;Фамилия;E-mail", ";Петрова;a@example.com", "Петрова"),
        ("First Name,Last Name,Email", "Ann,Lee,a@example.com", "Ann Lee"),
    ],
)
def test_a_name_in_columns_of_its_parts_is_joined_in_writing_order(app, header, line, full_name):
    [row] = client_import.parse(f"{header}\n{line}\n".encode()).rows
    assert (row.email, row.full_name) == ("a@example.com", full_name)


MAILCHIMP = (
    "Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,"
    "LAST_CHANGED,{extra}NOTES,TAGS"
)


@pytest.mark.parametrize(
    ("header", "line", "expected"),
    [
        (
            MAILCHIMP.format(extra=""),
            "ann@example.com,Ann,Lee,1 Main St,+1 555,2,2024-01-02 10:00:00,"
            "2024-01-02 10:00:00,met at the fair,",
            ("ann@example.com", "Ann Lee", "met at the fair", "", ""),
        ),
        (
            MAILCHIMP.format(extra="UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,"),
            "ann@example.com,Ann,Lee,,,2,2024-01-02 10:00:00,"
            "2024-05-31 14:30:00,2024-05-31 14:30:00,Spring news,,",
            ("ann@example.com", "Ann Lee", "", "2024-05-31 14:30:00", ""),
        ),
        (
            MAILCHIMP.format(extra="CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,"),
            "ann@example.com,Ann,Lee,,,2,2024-01-02 10:00:00,"
            "2024-05-31 14:30:00,2024-05-31 14:30:00,Spring news,,",
            ("ann@example.com", "Ann Lee", "", "", "2024-05-31 14:30:00"),
        ),
        (  # Outlook's contacts
            "First Name,Middle Name,Last Name,Title,Notes,E-mail Address,E-mail 2 Address",
            "Ann,May,Lee,Dr,a good client,ann@example.com,ann@home.example",
            ("ann@example.com", "Ann May Lee", "a good client", "", ""),
        ),
        (  # Google's contacts
            "First Name,Middle Name,Last Name,Nickname,Notes,Labels,E-mail 1 - Label,"
            "E-mail 1 - Value,Phone 1 - Value",
            "Ann,,Lee,Annie,,* myContacts,* Home,ann@example.com,+1 555",
            ("ann@example.com", "Ann Lee", "", "", ""),
        ),
    ],
    ids=["Mailchimp", "Mailchimp's unsubscribed", "Mailchimp's cleaned", "Outlook", "Google"],
)
def test_another_programs_export_imports_as_it_is(app, header, line, expected):
    [row] = client_import.parse(f"{header}\r\n{line}\r\n".encode()).rows
    assert (row.email, row.full_name, row.comment, row.unsubscribed_at, row.bounced_at) == expected


def test_mailchimps_cleaned_addresses_import_bounced(login, user):
    header = MAILCHIMP.format(extra="CLEAN_TIME,")
    line = (
        "ann@example.com,Ann,Lee,,,2,2024-01-02 10:00:00,2024-05-31 14:30:00,2024-05-31 14:30:00,,"
    )

    assert "Imported 1 client." in _import(login(user), f"{header}\n{line}\n".encode())

    ann = _client(user, "ann@example.com")
    assert ann.bounced_at == datetime(2024, 5, 31, 14, 30, tzinfo=UTC)
    assert ann.unsubscribed_at is None


def test_a_header_below_a_title_is_found_and_the_title_left_out(login, user):
    data = "Clients of the bakery\n\nname;comment;e-mail\nAnn;regular;ann@example.com\n"
    browser = login(user)

    preview = _upload(browser, data.encode())

    assert "name | comment | e-mail" in preview.text
    assert "line 3; the lines above it are left out" in preview.text
    assert re.search(r'id="row-count">1<', preview.text)
    assert "Imported 1 client." in _press(browser, preview).text
    assert _clients(user) == [("ann@example.com", "Ann", "regular")]


def test_a_line_that_names_columns_below_a_clients_line_is_no_header(app):
    parsed = client_import.parse(b"ann@example.com;Ann\nemail;name\nbob@example.com;Bob\n")

    assert parsed.header is None
    assert [row.email for row in parsed.rows] == ["ann@example.com", "email", "bob@example.com"]


def test_a_first_line_with_a_bad_address_is_reported_not_taken_for_a_header(login, user):
    browser = login(user)
    preview = _upload(
        browser, "petrov(at)example.ru;Петров Пётр;\nanna@example.com;Анна;\n".encode()
    )
    assert "none: columns are email, full name, comment" in preview.text

    report = _press(browser, preview)
    assert "Imported 1 client." in report.text
    assert "<td>1</td>" in report.text
    assert "petrov(at)example.ru" in report.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Иван Петров <ivan@example.ru>,", ("ivan@example.ru", "Иван Петров")),
        ('"""Petrov, Ivan"" <ivan@example.ru>",', ("ivan@example.ru", "Petrov, Ivan")),
        ("Иван <ivan@example.ru>,Иван Петрович", ("ivan@example.ru", "Иван Петрович")),
        ("<ivan@example.ru>,", ("ivan@example.ru", "")),
    ],
)
def test_an_address_copied_with_its_name_imports_both(app, line, expected):
    """As a mail program copies it; a full name the file gives wins over the copied one."""
    [row] = client_import.parse(f"{line}\n".encode()).rows
    assert (row.email, row.full_name) == expected


def test_a_name_with_a_comma_before_an_address_is_reported_as_written(login, user):
    """parseaddr takes the comma for a list: the cell is kept whole, and the reason says
    what to write instead."""
    browser = login(user)
    report = _import(browser, "Петров, Иван <pi@example.ru>;\nanna@example.com;\n".encode())
    assert "Imported 1 client." in report
    assert "Петров, Иван &lt;pi@example.ru&gt;" in report
    # The reason goes on after "invalid email:", as a sentence's second half does.
    assert "invalid email: write the address alone, without a name before it." in report


def test_excels_unicode_text_is_read(login, user):
    """Excel's "Unicode text": UTF-16 with its byte order mark, tab-separated."""
    browser = login(user)
    preview = _upload(browser, "E-mail\tФИО\r\nanna@example.com\tАнна Иванова\r\n".encode("utf-16"))
    assert "UTF-16" in preview.text
    assert "Imported 1 client." in _press(browser, preview).text
    assert Client.owned_by(user).one().full_name == "Анна Иванова"


def test_old_macintosh_line_endings_are_lines_too(app):
    parsed = client_import.parse(b"email,name\ranna@example.com,Anna\rboris@example.com,Boris\r")
    assert [(row.line, row.email) for row in parsed.rows] == [
        (2, "anna@example.com"),
        (3, "boris@example.com"),
    ]


@pytest.mark.parametrize(("encoding", "shown"), [("utf-8", "UTF-8"), ("cp1251", "Windows-1251")])
def test_the_encoding_is_told_from_the_whole_file_read_piece_by_piece(
    app, monkeypatch, encoding, shown
):
    """A letter split between two pieces read is still UTF-8; a cp1251 letter far down
    the file makes all of it cp1251."""
    monkeypatch.setattr(reading, "DECODED_PIECE", 7)  # splits "Иванова" mid-letter
    lines = ["email,name"] + [f"c{n}@example.com,Client {n}" for n in range(50)]
    data = "\n".join([*lines, "anna@example.com,Анна Иванова"]).encode(encoding)
    parsed = client_import.parse(data)
    assert parsed.encoding == shown
    assert parsed.rows[-1].full_name == "Анна Иванова"


def test_header_columns_it_does_not_know_are_left_out(app):
    parsed = client_import.parse(b"email,phone,name\na@example.com,+7 900,Anna\n")
    [row] = parsed.rows
    assert (row.email, row.full_name, row.comment) == ("a@example.com", "Anna", "")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            bytes(range(256)) * 4,
            "This is not a CSV file: it holds binary data (the first on line 1).",
        ),
        (
            b"email,comment\nann@example.com,a\x00b\n",
            "This is not a CSV file: it holds binary data (the first on line 2).",
        ),
        (
            # Past the first piece decoded: its lines are counted too.
            ("email\n" + "ann@example.com\n" * 70_000 + "bob@example.com,a\x00b\n").encode(
                "utf-16"
            ),
            "This is not a CSV file: it holds binary data (the first on line 70002).",
        ),
        (
            b'email,comment\nann@example.com,ok\nbob@example.com,"' + b"x" * 200_000 + b'"\n',
            "line 3 cannot be read: a cell is longer than 128 KB",
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)),
            "This workbook cannot be read (it is damaged, or it is not a workbook).",
        ),
    ],
    ids=[
        "binary",
        "a NUL character",
        "a NUL in UTF-16",
        "a cell past the csv module's limit",
        "a broken workbook",
    ],
)
def test_a_file_the_import_cannot_read_is_refused_with_the_reason(login, user, data, reason):
    response = _upload(login(user), data)

    assert response.status_code == 200
    assert reason in response.text
    assert 'id="row-count"' not in response.text  # the upload page again, not a preview
    assert _emails(user) == []


# --- unsubscribed and bounced clients ------------------------------------------------------

EXPORT_HEADER = "email,full_name,comment,created_at,unsubscribed_at,bounced_at"


def _client(owner, email: str) -> Client:
    db.session.expire_all()
    return Client.owned_by(owner).filter_by(email=email).one()


def test_reimporting_the_export_keeps_unsubscribed_and_bounced_clients_out_of_mailings(
    login, user, client
):
    from mailer.delivery import dispatch
    from mailer.delivery.unsubscribe import unsubscribe_token
    from mailer.models import Delivery

    gone = factories.make_client(user, "gone@example.com", full_name="Gone")
    factories.make_client(
        user, "dead@example.com", bounced_at=datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    )
    factories.make_client(user, "here@example.com")
    # She unsubscribes by her email's link.
    client.post(f"/u/{unsubscribe_token(gone.id, gone.email)}")
    unsubscribed_at = _client(user, "gone@example.com").unsubscribed_at
    browser = login(user)
    export = browser.get("/clients/export.csv").data
    for stale in Client.owned_by(user).all():  # the user clears the list and imports it back
        browser.post(f"/clients/{stale.id}/delete")

    report = _import(browser, export)

    assert "Imported 3 clients." in report
    assert "Of them, as the file says, unsubscribed: 1; bounced: 1. Mailings skip them." in report
    gone, dead = _client(user, "gone@example.com"), _client(user, "dead@example.com")
    assert gone.unsubscribed_at == unsubscribed_at.replace(microsecond=0)
    assert dead.bounced_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    listing = browser.get("/clients/").text
    # One client each, whose state shows twice: in its column, and under the email on a phone.
    assert listing.count(">unsubscribed</span>") == 2
    assert listing.count(">bounced</span>") == 2
    mailing = factories.make_mailing(user, clients=Client.owned_by(user).all())
    run_id = dispatch.start_forced_run(mailing.id)
    mailed = db.session.scalars(
        db.select(Client.email).join(Delivery).where(Delivery.run_id == run_id)
    ).all()
    assert mailed == ["here@example.com"]


def test_import_marks_a_client_it_already_has_and_never_clears_an_opt_out(login, user):
    earlier = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
    factories.make_client(user, "active@example.com", full_name="Active")
    factories.make_client(user, "left@example.com", unsubscribed_at=earlier)
    factories.make_client(user, "twice@example.com", unsubscribed_at=earlier)
    lines = [
        EXPORT_HEADER,
        "active@example.com,New name,,,2024-05-31T14:30:00+00:00,",
        "left@example.com,,,,,",  # the file says nothing: the opt-out stays
        "twice@example.com,,,,2024-05-31T14:30:00+00:00,2024-06-01T00:00:00+00:00",
    ]

    report = _import(login(user), "\n".join(lines).encode())

    assert "Imported 0 clients." in report
    assert report.count("already a client") == 3  # as before: an existing client is not changed
    assert "2 clients already in your list are now marked unsubscribed or bounced" in report
    active = _client(user, "active@example.com")
    assert (active.full_name, active.unsubscribed_at) == (
        "Active",
        datetime(2024, 5, 31, 14, 30, tzinfo=UTC),
    )
    assert _client(user, "left@example.com").unsubscribed_at == earlier
    twice = _client(user, "twice@example.com")
    assert (twice.unsubscribed_at, twice.bounced_at) == (
        earlier,  # the first date is kept
        datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_a_repeated_line_that_says_unsubscribed_is_not_lost(app, user, monkeypatch):
    # Across chunks too (three on PostgreSQL's two threads): the line that
    # imported the client and the line that unsubscribes them.
    monkeypatch.setattr(client_import, "CHUNK", 2)
    factories.make_client(user, "known@example.com")
    lines = [
        EXPORT_HEADER,
        "anna@example.com,Anna,,,,",
        "ANNA@example.com,,,,2024-05-31,",
        "known@example.com,,,,,",
        "vera@example.com,Vera,,,,",
        "Known@example.com,,,,,2024-06-01 10:00",
    ]
    report = _imported(app, user, lines)

    assert report.imported == 2
    assert [(r.line, r.reason.split(" (")[0]) for r in report.rejected] == [
        (3, "duplicate in file"),
        (4, "already a client"),
        (6, "duplicate in file"),
    ]
    # Known was in the list; Anna is one the import added, unsubscribed by her second line
    # (she was counted as a client of the list "marked" before).
    assert (report.marked, report.unsubscribed, report.bounced) == (1, 1, 0)
    assert _client(user, "anna@example.com").unsubscribed_at == datetime(2024, 5, 31, tzinfo=UTC)
    assert _client(user, "known@example.com").bounced_at == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert _client(user, "vera@example.com").can_receive


@pytest.mark.parametrize(
    ("cell", "moment"),
    [
        ("2024-05-31T14:30:00+00:00", datetime(2024, 5, 31, 14, 30, tzinfo=UTC)),  # the export's
        ("2024-05-31T17:30:00+03:00", datetime(2024, 5, 31, 14, 30, tzinfo=UTC)),
        ("2024-05-31T14:30:00Z", datetime(2024, 5, 31, 14, 30, tzinfo=UTC)),
        ("2024-05-31 14:30", datetime(2024, 5, 31, 14, 30, tzinfo=UTC)),
        ("2024-05-31", datetime(2024, 5, 31, tzinfo=UTC)),
        ("31.05.2024 14:30", datetime(2024, 5, 31, 14, 30, tzinfo=UTC)),  # Excel, Russian
        ("31.05.2024", datetime(2024, 5, 31, tzinfo=UTC)),
    ],
)
def test_a_date_is_read_as_the_export_writes_it_or_as_excel_saves_it(app, user, cell, moment):
    report = _imported(app, user, ["email;unsubscribed at", f"anna@example.com;{cell}"])
    assert (report.imported, report.rejected) == (1, [])
    assert _client(user, "anna@example.com").unsubscribed_at == moment


def test_a_date_the_import_cannot_read_is_reported_on_its_line(login, user):
    lines = [
        EXPORT_HEADER,
        "anna@example.com,Anna,,,yes,",
        "boris@example.com,Boris,,,,31.02.2024",
        "vera@example.com,Vera,,,,",
    ]
    browser = login(user)
    preview = _upload(browser, "\n".join(lines).encode())
    assert "not a date: unsubscribed_at “yes”" in preview.text

    report = _press(browser, preview).text

    assert "Imported 1 client." in report
    assert re.search(r"<td>2</td>.*not a date: unsubscribed_at “yes”", report, re.S)
    assert re.search(r"<td>3</td>.*not a date: bounced_at “31.02.2024”", report, re.S)
    assert _emails(user) == ["vera@example.com"]  # never imported as active


def test_preview_counts_and_marks_the_rows_that_say_unsubscribed_or_bounced(login, user):
    lines = [
        EXPORT_HEADER,
        "anna@example.com,Anna,,,2024-05-31T14:30:00+00:00,",
        "boris@example.com,Boris,,,,2024-05-31T14:30:00+00:00",
        "vera@example.com,Vera,,,,",
    ]
    preview = _upload(login(user), "\n".join(lines).encode()).text
    assert 'id="unsubscribed-count">1<' in preview
    assert 'id="bounced-count">1<' in preview
    assert preview.count('class="badge text-bg-warning">unsubscribed<') == 1
    assert preview.count('class="badge text-bg-danger">bounced<') == 1
    assert "imported as such, and mailings skip them" in preview


def test_preview_counts_each_client_the_import_marks_not_the_rows_it_skips(login, user):
    lines = [
        EXPORT_HEADER,
        "anna@example.com,Anna,,,yes,",  # not a date: skipped, marks nobody
        "boris@example.com,Boris,,,2024-05-31T14:30:00+00:00,",
        "boris@example.com,Boris,,,2024-06-01T10:00:00+00:00,",  # the same client again
        "vera@example.com,Vera,,,,",
        "vera@example.com,Vera,,,,2024-05-31T14:30:00+00:00",  # a repeat that marks her
    ]
    browser = login(user)
    preview = _upload(browser, "\n".join(lines).encode())

    assert 'id="unsubscribed-count">1<' in preview.text
    assert 'id="bounced-count">1<' in preview.text
    rows = preview.text.split('id="preview-rows"', 1)[1].split("</table>", 1)[0].split("<tr")[2:]
    assert ["unsubscribed<" in row for row in rows] == [False, True, True, False, False]
    assert ["bounced<" in row for row in rows] == [False, False, False, False, True]
    report = _press(browser, preview).text
    assert "Imported 2 clients." in report
    assert _client(user, "boris@example.com").unsubscribed_at is not None
    assert _client(user, "vera@example.com").bounced_at is not None


def test_a_file_without_those_columns_imports_and_previews_as_before(login, user):
    browser = login(user)
    preview = _upload(browser, b"email,name\nanna@example.com,Anna\n")
    assert 'id="unsubscribed-count"' not in preview.text
    report = _press(browser, preview).text
    assert "Of them" not in report
    assert _client(user, "anna@example.com").can_receive


def test_import_page_says_an_export_imports_back_with_its_opt_outs(login, user):
    page = login(user).get("/clients/import").text
    assert "imports back as it is" in page
    assert "unsubscribed_at and bounced_at" in page


# --- the export imports back exactly ------------------------------------------------------

# Cells a spreadsheet would run as a formula, or that really start with an apostrophe.
TRICKY = [
    ("'-quoted@example.com", "@home", "'hello"),
    ("+plus@example.com", "'hello", "@home"),
    ("-news@example.com", "=SUM(A1)", "'=x"),
    ("=eq@example.com", "'+7 900 000-00-00", "-"),
    ("o'brien@example.com", "O'Brien", "'"),
]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("-news@example.com", "'-news@example.com"),
        ("@home", "'@home"),
        ("'=x", "''=x"),
        ("''+x", "'''+x"),
        ("'hello", "'hello"),
        ("'", "'"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_a_cell_excel_would_run_gets_one_more_apostrophe_that_the_import_takes_off(text, written):
    assert client_queries.protect_formula(text) == written
    assert client_queries.unprotect_formula(written) == text


def _clients(owner) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return sorted((c.email, c.full_name, c.comment) for c in Client.owned_by(owner))


def test_a_russian_users_files_are_split_on_semicolons_as_their_excel_expects(login, user):
    """Excel with Russian regional settings splits a CSV file on ";": on "," every row
    opened in column A. The import reads either."""
    user.locale = "ru"
    db.session.commit()
    factories.make_client(user, "anna@example.com", full_name="Иванова, Анна", comment="a;b")
    browser = login(user)

    export = browser.get("/clients/export.csv").data.decode("utf-8-sig")
    log = browser.get("/attempts.csv").data.decode("utf-8-sig")

    assert export.splitlines()[0].startswith("email;full_name;comment;")
    assert log.splitlines()[0].count(";") >= 5
    [row] = list(csv.reader(io.StringIO(export), delimiter=";"))[1:]
    assert row[:3] == ["anna@example.com", "Иванова, Анна", "a;b"]
    fresh = factories.make_user(email="fresh@example.com")
    assert "Imported 1 client." in _import(login(fresh), export.encode())
    assert _clients(fresh) == [("anna@example.com", "Иванова, Анна", "a;b")]


def test_the_export_imports_back_exactly_whatever_its_cells_start_with(login, user):
    for email, full_name, comment in TRICKY:
        factories.make_client(user, email, full_name=full_name, comment=comment)
    browser = login(user)
    export = browser.get("/clients/export.csv").data
    cells = [row[:3] for row in csv.reader(io.StringIO(export.decode("utf-8-sig")))]
    assert ["'-news@example.com", "'=SUM(A1)", "''=x"] in cells  # text, not formulas, in Excel

    # Into the same account: every client is one it already has, none is added.
    report = _import(browser, export)
    assert "Imported 0 clients." in report
    assert report.count("already a client") == len(TRICKY)
    assert _clients(user) == TRICKY

    # Into another account: the same clients, exactly.
    fresh = factories.make_user(email="fresh@example.com")
    report = _import(login(fresh), export)
    assert f"Imported {len(TRICKY)} clients." in report
    assert _clients(fresh) == TRICKY


def test_the_clients_an_import_adds_join_the_mailings_that_take_new_clients(login, user):
    left_out = factories.make_client(user, "left-out@example.com")
    chosen = factories.make_client(user, "chosen@example.com")
    taking = factories.make_mailing(user, clients=[chosen], takes_new_clients=True)
    fixed = factories.make_mailing(user, clients=[chosen])
    browser = login(user)

    preview = _upload(browser, b"email\nnew1@example.com\nleft-out@example.com\nnew2@example.com\n")
    report = _press(browser, preview).text  # the mailings ticked as the preview shows them

    assert "They join 1 mailing." in report
    db.session.expire_all()
    # The clients it added; not one it found already there, which the mailing leaves out.
    assert sorted(client.email for client in taking.clients) == [
        "chosen@example.com",
        "new1@example.com",
        "new2@example.com",
    ]
    assert [client.email for client in fixed.clients] == ["chosen@example.com"]
    assert left_out not in taking.clients


def test_the_clients_an_import_adds_join_only_the_mailings_left_ticked(login, user, other_user):
    taking = factories.make_mailing(user, name="Taking", takes_new_clients=True)
    fixed = factories.make_mailing(user, name="Fixed")
    theirs = factories.make_mailing(other_user, name="Theirs")
    browser = login(user)
    preview = _upload(browser, b"email\nnew1@example.com\nnew2@example.com\n")
    assert "Mailings for the clients it adds" in preview.text
    assert "Theirs" not in preview.text

    # Taking unticked, Fixed ticked, and another user's mailing forged in: it is ignored.
    report = _press(browser, preview, ticked=[fixed.id, theirs.id]).text

    assert "Imported 2 clients." in report
    assert "They join 1 mailing." in report
    db.session.expire_all()
    assert taking.clients == []
    assert sorted(client.email for client in fixed.clients) == [
        "new1@example.com",
        "new2@example.com",
    ]
    assert theirs.clients == []


def test_the_preview_offers_the_mailings_taking_new_clients_however_old(login, user, monkeypatch):
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 1)
    taking = factories.make_mailing(user, name="Taking", takes_new_clients=True)
    factories.make_mailing(user, name="Unseen")
    factories.make_mailing(user, name="Newest")
    browser = login(user)

    report = _press(browser, _upload(browser, b"email\nnew1@example.com\n")).text

    assert "They join 1 mailing." in report
    db.session.expire_all()
    assert [client.email for client in taking.clients] == ["new1@example.com"]


def test_a_preview_asked_again_keeps_the_mailings_ticked_on_the_one_before(
    login, user, other_user, monkeypatch
):
    """Another sheet or other columns previewed (their forms carry the ticks: mailer.js):
    the mailings the user ticked stay ticked, however old; those they unticked, unticked."""
    monkeypatch.setattr(mailing_queries, "MAILING_CHOICE_LIMIT", 2)
    fixed = factories.make_mailing(user, name="Fixed")  # older than the two newest shown
    taking = factories.make_mailing(user, name="Taking", takes_new_clients=True)
    factories.make_mailing(user, name="Newer")
    factories.make_mailing(user, name="Newest")
    theirs = factories.make_mailing(other_user, name="Theirs")
    browser = login(user)
    first = _upload(browser, b"name,email\nAnn,new1@example.com\n")
    page = re.search(r'action="(/clients/imports/\d+)/confirm"', first.text)[1]

    again = browser.get(
        page,
        query_string=[
            ("column-email", "1"),
            ("column-full_name", "-1"),
            ("ticks", "1"),
            ("mailing_ids", str(fixed.id)),
            ("mailing_ids", str(theirs.id)),  # forged in: not offered
        ],
    )

    assert _ticked_boxes(again.text) == {fixed.id}
    assert "Theirs" not in again.text
    assert "Taking" in again.text  # offered, unticked as left
    _press(browser, again)
    db.session.expire_all()
    assert [client.email for client in fixed.clients] == ["new1@example.com"]
    assert [client.full_name for client in fixed.clients] == [""]  # read with those columns
    assert taking.clients == []


def _ticked_boxes(page: str) -> set[int]:
    boxes = re.findall(r'<input[^>]*name="mailing_ids"[^>]*>', page)
    return {int(re.search(r'value="(\d+)"', box)[1]) for box in boxes if " checked" in box}


def test_an_import_with_no_mailing_ticked_joins_none(login, user):
    taking = factories.make_mailing(user, takes_new_clients=True)
    browser = login(user)

    report = _press(browser, _upload(browser, b"email\nnew1@example.com\n"), ticked=[]).text

    assert "Imported 1 client." in report
    assert "They join" not in report
    db.session.expire_all()
    assert taking.clients == []


# --- workbooks ------------------------------------------------------------------------------

# Saved by LibreOffice Calc 7 (soffice --convert-to) from this CSV file, its date and
# number recognised as such; protected.xlsx is clients.xlsx with the password "secret"
# (msoffcrypto-tool), as Excel encrypts a workbook:
#   E-mail;ФИО;Комментарий;Отписался
#   anna@example.com;Анна Иванова;с выставки;
#   boris@example.com;Борис Петров;12345;
#   not-an-email;Вера;;
#   gone@example.com;Глеб Орлов;;2024-05-31 14:30
WORKBOOKS = Path(__file__).parent / "workbooks"


def _workbook(sheets: dict[str, list[list]], *, hidden: tuple[str, ...] = ()) -> bytes:
    """An .xlsx file of these sheets (each a list of rows from A1; None: an empty cell)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


@pytest.mark.parametrize("name", ["clients.xlsx", "clients.xls", "clients.ods"])
def test_a_workbook_of_excel_or_libreoffice_imports_as_its_csv_would(login, user, name):
    browser = login(user)

    preview = _upload(browser, (WORKBOOKS / name).read_bytes(), filename=name)

    shown = html.unescape(preview.text)
    assert '<span id="sheet"><span class="user-text">clients</span></span>' in preview.text
    assert 'id="encoding"' not in preview.text  # a workbook has no encoding or separator
    assert "E-mail | ФИО | Комментарий | Отписался" in shown
    assert re.search(r'id="row-count">4<', preview.text)
    assert re.search(r'id="unsubscribed-count">1<', preview.text)
    report = _press(browser, preview).text
    assert "Imported 3 clients." in report
    assert "<td>4</td>" in report  # the sheet's row 4, as the spreadsheet numbers it
    assert "invalid email" in report
    assert _clients(user) == [
        ("anna@example.com", "Анна Иванова", "с выставки"),
        ("boris@example.com", "Борис Петров", "12345"),  # a number cell, as the sheet shows it
        ("gone@example.com", "Глеб Орлов", ""),
    ]
    gone = _client(user, "gone@example.com")
    assert gone.unsubscribed_at == datetime(2024, 5, 31, 14, 30, tzinfo=UTC)  # a date cell


def test_the_first_visible_sheet_with_rows_is_imported_and_the_preview_names_it(login, user):
    data = _workbook(
        {
            "Notes": [],
            "Old": [["email"], ["old@example.com"]],
            "Клиенты": [["email", "name"], ["anna@example.com", "Anna"]],
            "Other": [["email"], ["other@example.com"]],
        },
        hidden=("Old",),
    )
    browser = login(user)

    preview = _upload(browser, data, filename="book.xlsx")

    assert '<span class="user-text">Клиенты</span>' in preview.text
    assert "sheet 3 of 4; only this one is imported" in preview.text
    assert "Imported 1 client." in _press(browser, preview).text
    assert _emails(user) == ["anna@example.com"]


def _choose_sheet(browser, preview, name: str):
    """Choose the sheet `name` in the preview's menu and show its preview."""
    form = re.search(r'<form method="get" action="([^"]+)"[^>]*>(.*?)</form>', preview.text, re.S)
    [number] = re.findall(rf'<option value="(\d+)"[^>]*>{re.escape(name)}</option>', form[2])
    return browser.get(form[1], query_string={"sheet": number})


def test_the_preview_of_a_workbook_offers_its_other_sheets_and_imports_the_one_chosen(login, user):
    data = _workbook(
        {
            "Summary": [["Clients by month"], ["May", 2]],
            "Clients": [["email", "name"], ["anna@example.com", "Anna"]],
            "Old": [["email"], ["old@example.com"]],
            "Empty": [],
        },
        hidden=("Old",),
    )
    browser = login(user)
    preview = _upload(browser, data, filename="book.xlsx")
    assert '<span class="user-text">Summary</span>' in preview.text  # its first: no client
    menu = re.search(r'<select[^>]*id="sheet-choice">(.*?)</select>', preview.text, re.S)[1]
    assert re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', menu) == [
        "Summary",
        "Clients",
        "Empty",
    ]  # the hidden sheet is no choice

    chosen = _choose_sheet(browser, preview, "Clients")

    assert '<span class="user-text">Clients</span>' in chosen.text
    assert '<dd class="col-sm-9 user-text" id="filename">book.xlsx</dd>' in chosen.text
    assert "Imported 1 client." in _press(browser, chosen).text
    assert _clients(user) == [("anna@example.com", "Anna", "")]


def test_a_sheet_without_rows_chosen_says_so_and_imports_nothing(login, user):
    data = _workbook({"Clients": [["email"], ["anna@example.com"]], "Empty": []})
    browser = login(user)
    preview = _upload(browser, data, filename="book.xlsx")

    refused = _choose_sheet(browser, preview, "Empty")

    assert refused.status_code == 302
    again = browser.get(refused.location)
    assert "The sheet Empty has no rows to import." in again.text
    assert '<span class="user-text">Clients</span>' in again.text  # the preview it was chosen on
    assert _emails(user) == []


def test_a_workbooks_rows_keep_their_numbers_and_a_line_break_in_a_cell_is_a_space(login, user):
    """Its header below a title, as sheets often have them."""
    data = _workbook(
        {
            "Clients": [
                [],
                [None, "Our clients, 2026"],
                [None, "email", "name", "comment"],
                [None, "anna@example.com", "Anna", "met at\nthe fair"],
                [None, "not-an-email", "Boris", None],
            ]
        }
    )
    browser = login(user)

    report = _import(browser, data)

    assert "Imported 1 client." in report
    assert "<td>5</td>" in report  # row 5 of the sheet
    assert _clients(user) == [("anna@example.com", "Anna", "met at the fair")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            (WORKBOOKS / "protected.xlsx").read_bytes(),
            "This workbook cannot be read (it is protected by a password).",
        ),
        (
            _workbook({"Empty": [], "Blank": [[None, None]]}),
            "The workbook has no sheet with rows to import.",
        ),
    ],
    ids=["a password", "no rows"],
)
def test_a_workbook_the_import_cannot_read_is_refused_with_the_reason(login, user, data, reason):
    response = _upload(login(user), data, filename="book.xlsx")

    assert response.status_code == 200
    assert reason in html.unescape(response.text)
    assert 'id="row-count"' not in response.text
    assert _emails(user) == []


def test_a_workbook_that_would_unpack_past_the_limit_is_not_unpacked(login, user, monkeypatch):
    from mailer.mailings.client_import import workbooks

    data = (WORKBOOKS / "clients.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    monkeypatch.setattr(workbooks, "UNPACKED_MAX", unpacked - 1)

    response = _upload(login(user), data, filename="clients.xlsx")

    assert "more than the import reads" in html.unescape(response.text)
    assert _emails(user) == []


# --- columns chosen on the preview ---------------------------------------------------------


def _columns(**chosen: int) -> dict[str, int]:
    """The preview's column menus as sent: each field's column, -1 for none."""
    return {f"column-{field}": chosen.get(field, -1) for field in client_import.FIELDS}


GERMAN = "Kontakt;Adresse;Notiz\nAnna Iwanowa;anna@example.com;Messe\nBoris;boris@example.com;\n"


def test_a_header_of_unknown_words_imports_once_its_columns_are_chosen(login, user):
    browser = login(user)
    preview = _upload(browser, GERMAN.encode())
    nothing = html.unescape(preview.text).split('id="nothing-to-import">', 1)[1]
    assert nothing.startswith(  # the addresses: column 2, which the page points to
        "No row of this file can be imported. If its addresses are in another column, choose"
        " that column under “Columns: which holds what” above"
    )
    assert '<details class="mb-3" id="columns" open>' in preview.text
    assert '<option value="1">2. Adresse</option>' in preview.text  # the first line's cells

    chosen = browser.get(
        f"/clients/imports/{_import_id(preview)}",
        query_string=_columns(email=1, full_name=0, comment=2),
    )

    assert 'id="header">Kontakt | Adresse | Notiz' in chosen.text  # now read as the header
    assert 'id="no-problems"' in chosen.text
    assert '<option value="1" selected>2. Adresse (anna@example.com)</option>' in chosen.text
    assert "Imported 2 clients." in _press(browser, chosen).text
    assert _clients(user) == [
        ("anna@example.com", "Anna Iwanowa", "Messe"),
        ("boris@example.com", "Boris", ""),
    ]


def test_a_file_without_header_takes_its_columns_as_chosen(login, user):
    browser = login(user)
    preview = _upload(browser, b"Anna,anna@example.com\nBoris,boris@example.com\n")

    chosen = browser.get(
        f"/clients/imports/{_import_id(preview)}", query_string=_columns(email=1, full_name=0)
    )

    assert "none: columns are email, full name, comment" in chosen.text  # a row, not a header
    assert "Imported 2 clients." in _press(browser, chosen).text
    assert _clients(user) == [("anna@example.com", "Anna", ""), ("boris@example.com", "Boris", "")]


@pytest.mark.parametrize(
    ("chosen", "problem"),
    [
        ({"full_name": 0}, "Choose the column that holds the email addresses."),
        ({"email": 1, "comment": 1}, "Two fields take the same column: choose a column for each."),
    ],
    ids=["no email column", "one column twice"],
)
def test_columns_that_cannot_be_read_are_refused_with_the_reason(login, user, chosen, problem):
    browser = login(user)
    preview = _upload(browser, GERMAN.encode())

    page = browser.get(f"/clients/imports/{_import_id(preview)}", query_string=_columns(**chosen))

    assert problem in page.text
    assert "No row of this file can be imported." in page.text  # as the file reads by itself
    assert _emails(user) == []


def test_a_name_in_parts_is_joined_unless_one_column_is_chosen_for_it(login, user):
    browser = login(user)
    preview = _upload(browser, "Фамилия;Имя;E-mail\nИванова;Анна;anna@example.com\n".encode())
    joined = '<option value="-2" selected>its parts, joined: Фамилия + Имя</option>'
    assert joined in preview.text
    assert "Иванова Анна" in preview.text

    chosen = browser.get(
        f"/clients/imports/{_import_id(preview)}", query_string=_columns(email=2, full_name=1)
    )

    assert "Imported 1 client." in _press(browser, chosen).text
    assert _clients(user) == [("anna@example.com", "Анна", "")]


def test_an_import_sent_with_columns_that_cannot_be_read_is_not_started(login, user):
    browser = login(user)
    preview = _upload(browser, GERMAN.encode())
    number = _import_id(preview)

    started = browser.post(f"/clients/imports/{number}/confirm", data=_columns(full_name=0))

    page = browser.get(started.location).text
    assert "Choose the column that holds the email addresses." in page
    assert "Import preview" in page  # still waiting for its confirmation
    assert _emails(user) == []


def test_the_preview_and_the_report_list_the_first_lines_ruled_out_and_count_them_all(
    login, user, monkeypatch
):
    monkeypatch.setattr(client_import, "SKIPPED_SHOWN", 3)
    monkeypatch.setattr(ClientImport, "REJECTED_KEPT", 3)
    monkeypatch.setattr(client_import, "CHUNK", 2)  # the count goes on across chunks
    lines = ["email", "good@example.com", *(f"bad-{number}" for number in range(5))]
    browser = login(user)

    preview = _upload(browser, "\n".join(lines).encode())
    assert "5 rows have a problem and will be skipped" in preview.text
    assert "Only the first 3 are listed." in preview.text
    assert "bad-2" in preview.text
    assert "bad-3" not in preview.text

    report = _press(browser, preview).text
    assert "Imported 1 client." in report
    assert "5 lines were not imported:" in report
    assert "Only the first 3 are listed." in report
    assert "bad-3" not in report
