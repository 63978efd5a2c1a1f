"""Russian and English: a complete catalogue, the language each person gets, emails in theirs."""

from __future__ import annotations

import email
import html
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale, gettext

from mailer.extensions import db
from mailer.i18n import TRANSLATIONS, compile_catalogues, ngettext, stale_catalogues
from mailer.models import Client, User, utcnow
from tests import factories
from tests.catalogue import extracted_ids

RU_PO = TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}
RUSSIAN_BROWSER = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


def ru_catalogue():
    with RU_PO.open("rb") as source:
        return read_po(source, locale="ru")


def test_every_string_of_the_interface_has_a_russian_translation():
    catalogue = ru_catalogue()
    translated = set()
    for entry in catalogue:
        translated.update(entry.id if isinstance(entry.id, tuple) else (entry.id,))

    missing = extracted_ids() - translated
    assert not missing, (
        "not in ru/LC_MESSAGES/messages.po: run `make messages`, translate them, commit the .po:\n"
        + "\n".join(sorted(missing))
    )


def test_the_extraction_sees_python_templates_and_emails():
    """Guards the test above: an extraction that found nothing would pass it."""
    ids = extracted_ids()
    assert "This page does not exist, or it is not yours." in ids  # errors.py, lazy_gettext
    assert "Please confirm your email address to start using Mailer:" in ids  # email .txt
    assert "At least %(num)s characters; not a common password." in ids  # lazy_ngettext
    assert "Clients" in ids  # a template


def test_no_message_takes_its_count_as_a_bare_integer():
    """ngettext writes `num` as the viewer writes numbers ("1,000"): a message saying
    %(num)d would fail to render, so a page showing it would answer 500."""
    assert [id_ for id_ in extracted_ids() if "%(num)d" in id_] == []


def test_russian_catalogue_has_no_empty_fuzzy_or_broken_entries():
    catalogue = ru_catalogue()
    assert catalogue.num_plurals == 3
    problems = []
    for entry in list(catalogue)[1:]:
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"fuzzy: {entry.id!r}")
        if not all(forms) or (entry.pluralizable and len(forms) != 3):
            problems.append(f"untranslated or missing plural forms: {entry.id!r}")
        wanted = set(PLACEHOLDER.findall(entry.id[-1] if entry.pluralizable else entry.id))
        for form in forms:
            if set(PLACEHOLDER.findall(form or "")) != wanted:
                problems.append(f"placeholders differ: {entry.id!r} -> {form!r}")
    for entry, errors in catalogue.check():
        problems += [f"{entry.id!r}: {error}" for error in errors]
    assert not problems, "\n".join(problems)


def test_russian_plurals_take_three_forms(app):
    with app.test_request_context(), force_locale("ru"):
        shown = [
            ngettext("Imported %(num)s client.", "Imported %(num)s clients.", n)
            for n in (1, 3, 5, 11, 21, 1001, 250000)
        ]
    assert shown == [
        "Импортирован 1 клиент.",
        "Импортировано 3 клиента.",
        "Импортировано 5 клиентов.",
        "Импортировано 11 клиентов.",
        "Импортирован 21 клиент.",
        "Импортирован 1\xa0001 клиент.",  # thousands apart, as Russian writes them
        "Импортировано 250\xa0000 клиентов.",
    ]


def test_stale_catalogues_are_compiled_and_then_fresh(tmp_path):
    folder = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, folder, ignore=shutil.ignore_patterns("*.mo"))
    po = folder / "ru" / "LC_MESSAGES" / "messages.po"
    admin_po = po.with_name("admin.po")  # Flask-Admin's strings its own catalogue lacks
    assert stale_catalogues(folder) == [admin_po, po]

    assert compile_catalogues(folder) == [admin_po.with_suffix(".mo"), po.with_suffix(".mo")]
    assert stale_catalogues(folder) == []
    assert compile_catalogues(folder) == []  # nothing to do the second time
    loaded = Translations.load(str(folder), ["ru"])
    assert loaded.gettext("Clients") == "Клиенты"
    admin = Translations.load(str(folder), ["ru"], domain="admin")
    assert admin.gettext("Failed to save record.") == "Не удалось сохранить запись."

    past = po.stat().st_mtime - 60  # an edited .po makes its .mo stale again
    os.utime(po.with_suffix(".mo"), (past, past))
    assert stale_catalogues(folder) == [po]


# -- which language a person gets ---------------------------------------------------------


def visible_text(page: str) -> str:
    """The text a reader sees or hears: the page's text and its labelling attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    attributes = re.findall(r'(?:title|alt|placeholder|aria-label|data-confirm)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *attributes]))


def english_left(page: str) -> list[str]:
    """The catalogue's English strings (of four letters or more) still on a Russian page."""
    text = visible_text(page)
    left = []
    for entry in list(ru_catalogue())[1:]:
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for msgid in ids:
            if msgid in forms:  # the same in both languages: "Mailer", "HTML"
                continue
            parts = [part for part in PLACEHOLDER.split(msgid) if part.strip()]
            if len(re.findall(r"[A-Za-z]", "".join(parts))) < 4:
                continue
            pattern = r".{0,80}?".join(re.escape(part.strip()) for part in parts)
            if re.search(r"(?<![\w@.])" + pattern + r"(?![\w])", text):
                left.append(msgid)
    return left


def assert_russian(response, *expected: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert '<html lang="ru">' in page
    for text in expected:
        assert text in page, f"{text!r} is not on the page"
    assert english_left(page) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ["Главная", "Ведите список клиентов", "Войти", "Зарегистрироваться"]),
        ("/auth/login", ["Запомнить меня", "Забыли пароль?"]),
        ("/auth/register", ["Создать учётную запись", "Повторите пароль", "Не менее 10 символов"]),
        ("/blog/", ["Блог", "Статей пока не опубликовано"]),
    ],
)
def test_visitor_with_a_russian_browser_gets_russian_pages(client, path, expected):
    assert_russian(client.get(path, headers=RUSSIAN_BROWSER), *expected)


def test_visitor_with_an_english_browser_gets_english(client):
    page = client.get("/auth/login", headers=ENGLISH_BROWSER).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Remember me" in page
    assert "Запомнить меня" not in page


def test_published_article_and_blog_list_in_russian(client):
    article = factories.make_article("Как писать письма", body="Коротко и по делу.")
    assert_russian(client.get("/blog/", headers=RUSSIAN_BROWSER), "Как писать письма")
    assert_russian(
        client.get(f"/blog/{article.id}", headers=RUSSIAN_BROWSER), "1 просмотр", "Все статьи"
    )


@pytest.fixture
def russian_user(app):
    return factories.make_user(
        "olga@example.com", full_name="Ольга", locale="ru", timezone="Europe/Moscow"
    )


def test_russian_user_gets_russian_whatever_the_browser(login, russian_user):
    browser = login(russian_user)
    message = factories.make_message(russian_user, subject="Новости", body_text="Привет!")
    client = factories.make_client(russian_user, "ivan@example.com", full_name="Иван")
    factories.make_mailing(russian_user, message=message, clients=[client])

    for path, expected in [
        ("/", ["Ваши рассылки", "Запущенные рассылки"]),
        ("/clients/", ["Клиенты", "Новый клиент", "Импорт из CSV", "ivan@example.com"]),
        ("/clients/new", ["Новый клиент", "ФИО", "Комментарий"]),
        ("/messages/", ["Сообщения", "Новое сообщение"]),
        ("/mailings/", ["Рассылки", "Новая рассылка", "Однократно"]),
        ("/mailings/new", ["Новая рассылка", "Периодичность", "Все мои клиенты", "Иван"]),
        ("/attempts/", ["Журнал попыток рассылки", "Попыток рассылки пока нет."]),
        ("/reports/", ["Отчёт"]),
        ("/auth/profile", ["Профиль", "Язык интерфейса"]),
        ("/auth/delete-account", ["Клиенты: 1", "Сообщения: 1"]),  # as the menu names them
    ]:
        assert_russian(browser.get(path, headers=ENGLISH_BROWSER), *expected)


def test_empty_lists_tell_a_russian_user_what_to_do(login, russian_user):
    browser = login(russian_user)
    assert_russian(browser.get("/clients/", headers=ENGLISH_BROWSER), "Клиентов пока нет.")
    assert_russian(browser.get("/mailings/", headers=ENGLISH_BROWSER), "Рассылок пока нет.")


def test_english_user_gets_english_from_a_russian_browser(login, user):
    page = login(user).get("/clients/", headers=RUSSIAN_BROWSER).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "No clients yet." in page


def test_form_errors_are_russian_too(login, russian_user):
    response = login(russian_user).post(
        "/clients/new", data={"email": "not-an-email"}, headers=ENGLISH_BROWSER
    )
    page = response.get_data(as_text=True)
    assert "В адресе электронной почты должен быть знак @." in page
    assert english_left(page) == []


@pytest.mark.parametrize(
    ("email", "said"),
    [
        (
            "anna ivanova@example.com",
            "В адресе электронной почты перед знаком @ есть недопустимые символы: пробел.",
        ),
        (
            "anna\tivanova@example.com",
            "В адресе электронной почты перед знаком @ есть недопустимые символы: табуляция.",
        ),
        (
            "anna,ivanova@example.com",
            "В адресе электронной почты перед знаком @ есть недопустимые символы: «,».",
        ),
        (
            "anna\u200bivanova@example.com",
            "В адресе электронной почты есть символы, которые нельзя использовать: U+200B.",
        ),
        ("anna@example.com-", "Адрес электронной почты не может заканчиваться дефисом."),
    ],
    ids=["a space", "a tab", "a comma", "a zero-width space", "a hyphen at the end"],
)
def test_an_address_with_characters_it_cannot_have_is_refused_in_russian_words(
    login, russian_user, email, said
):
    response = login(russian_user).post(
        "/clients/new", data={"email": email}, headers=ENGLISH_BROWSER
    )
    page = html.unescape(response.get_data(as_text=True))
    assert said in page
    assert english_left(page) == []


def test_template_errors_are_russian_too(login, russian_user):
    response = login(russian_user).post(
        "/messages/new",
        data={
            "subject": "{% for a in b %}{% endfor %}",
            "body_text": "Привет\n{{ client.phone }}",
            "body_html": "<p>{% if client.comment %}</p>",
        },
        headers=ENGLISH_BROWSER,
    )
    page = html.unescape(response.get_data(as_text=True))
    assert "строка 1: в сообщении нельзя использовать циклы ({% for %})" in page
    assert "строка 2: у «client» нет поля «phone» (используйте client.email," in page
    assert "строка 1: шаблон заканчивается без {% endif %}" in page
    assert english_left(page) == []


def test_the_reasons_a_template_fails_for_a_client_are_russian_too(login, russian_user):
    """What a user writes and meets on the preview: Jinja's English named Python types."""
    response = login(russian_user).post(
        "/messages/new",
        data={
            "subject": "{{ client.email.first }}",
            "body_text": "{{ (client.email.split('x') + [])[5] }}\n{{ 1 / 0 }}",
            "body_html": "{{ client.email.lower }}",
        },
        headers=ENGLISH_BROWSER,
    )
    page = html.unescape(response.get_data(as_text=True))
    assert "строка 1: у текста нет «first»" in page
    assert "строка 1: нет элемента 5" in page
    assert "строка 1: метод не печатает текст" in page
    assert english_left(page) == []


def test_wtforms_own_messages_follow_the_language(client):
    response = client.post("/auth/login", data={}, headers=RUSSIAN_BROWSER)
    page = response.get_data(as_text=True)
    assert "This field is required." not in page
    assert "Обязательное поле." in page


def test_switcher_sets_the_language_of_a_visitor(client):
    response = client.post(
        "/auth/language", data={"locale": "ru", "next": "/auth/login"}, headers=ENGLISH_BROWSER
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    assert_russian(client.get("/auth/login", headers=ENGLISH_BROWSER), "Запомнить меня")

    client.post("/auth/language", data={"locale": "en"}, headers=RUSSIAN_BROWSER)
    page = client.get("/auth/login", headers=RUSSIAN_BROWSER).get_data(as_text=True)
    assert "Remember me" in page


def test_switcher_offers_both_languages_in_their_own_names(client):
    page = client.get("/", headers=ENGLISH_BROWSER).get_data(as_text=True)
    assert 'lang="ru">Русский</button>' in page
    assert 'lang="en">English</button>' in page


def test_switcher_saves_the_language_of_a_user(login, user):
    login(user).post("/auth/language", data={"locale": "ru"})
    db.session.expire_all()
    assert User.by_email(user.email).locale == "ru"


def test_a_russian_visitor_is_asked_in_russian_to_log_in_for_a_users_page(client):
    response = client.get("/clients/", headers=RUSSIAN_BROWSER, follow_redirects=True)
    assert_russian(response, "Войдите, чтобы открыть эту страницу.")


def test_error_pages_in_russian(login, russian_user):
    response = login(russian_user).get("/mailings/999999")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Такой страницы нет, или она вам не принадлежит." in page
    assert english_left(page) == []


# -- dates and times ----------------------------------------------------------------------------


def test_paused_until_is_shown_in_the_users_language_and_zone(login, russian_user):
    mailing = factories.make_mailing(russian_user)
    until = utcnow().replace(microsecond=0) + timedelta(hours=5)
    factories.make_run(mailing, paused_until=until)
    local = until.astimezone(ZoneInfo("Europe/Moscow"))
    browser = login(russian_user)

    page = browser.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    progress = browser.get(f"/mailings/{mailing.id}/progress").get_json()

    assert until.isoformat() not in page
    assert f"{local:%H:%M}" in progress["paused_until_text"]  # Moscow, not UTC
    assert f"Отправка возобновится {progress['paused_until_text']}." in page
    assert progress["paused_until"] == until.isoformat()  # the machine-readable value stays


@pytest.mark.parametrize(
    ("viewer", "path"),
    [
        ("user", "/auth/profile"),
        ("manager", "/manager/users"),
        ("superuser", "/admin/users/details/?id={id}"),
    ],
)
def test_a_moment_reads_the_same_on_every_page_in_the_viewers_zone(
    request, login, user, viewer, path
):
    # The profile gives the previous login, the lists the last one.
    user.last_login_at = user.previous_login_at = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
    viewing = request.getfixturevalue(viewer)
    viewing.timezone = "Europe/Moscow"
    db.session.commit()

    page = login(viewing).get(path.format(id=user.id)).get_data(as_text=True)

    assert "2031-03-01 09:00" in page  # as every list writes it, in Moscow (UTC+3)


# -- emails -----------------------------------------------------------------------------------


def read_outbox(app) -> list[email.message.EmailMessage]:
    files = sorted(
        Path(app.config["MAIL_OUTBOX"]).glob("*.eml"), key=lambda path: path.stat().st_mtime_ns
    )
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def body_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_registering_from_a_russian_browser_confirms_in_russian(app, client):
    client.post(
        "/auth/register",
        data={
            "email": "nina@example.com",
            "full_name": "Нина",
            "password": "violet-harbour-42",
            "password_confirm": "violet-harbour-42",
        },
        headers=RUSSIAN_BROWSER,
    )

    assert User.by_email("nina@example.com").locale == "ru"
    [message] = read_outbox(app)
    assert message["Subject"] == "Подтвердите адрес электронной почты"
    text = body_of(message)
    assert text.startswith("Здравствуйте!")  # no name: the address is not proved yet
    assert "Ссылка действует три дня." in text
    assert "Please confirm" not in text


def test_account_emails_go_out_in_the_users_language_not_the_pages(app, client, russian_user):
    client.post("/auth/reset", data={"email": russian_user.email}, headers=ENGLISH_BROWSER)

    [message] = read_outbox(app)
    assert message["Subject"] == "Восстановление пароля"
    assert "Кто-то запросил восстановление пароля" in body_of(message)


def test_an_english_user_gets_english_emails_from_a_russian_page(app, client, user):
    client.post("/auth/reset", data={"email": user.email}, headers=RUSSIAN_BROWSER)

    [message] = read_outbox(app)
    assert message["Subject"] == "Reset your password"
    assert "Someone asked to reset the password" in body_of(message)


def test_emails_written_outside_a_request_use_the_users_language(app, russian_user):
    from mailer.auth import services

    with app.app_context():  # a worker or a command: nobody's browser to ask
        services.send_confirmation(User.by_email(russian_user.email))

    [message] = read_outbox(app)
    assert message["Subject"] == "Подтвердите адрес электронной почты"


def test_the_csv_example_header_is_one_the_import_recognises(app):
    from mailer.mailings.client_import import HEADER_NAMES

    with app.test_request_context(), force_locale("ru"):
        header = [gettext("email"), gettext("full name"), gettext("comment")]
    for name, column in zip(header, ("email", "full_name", "comment"), strict=True):
        assert name in HEADER_NAMES[column], (name, column)


def test_a_read_only_install_is_told_a_command_that_compiles_every_catalogue(
    test_environ, monkeypatch, caplog
):
    """pybabel compiles only the `messages` domain unless told otherwise: admin.po too."""
    from mailer import create_app, i18n

    def read_only(*_args):
        raise PermissionError("Permission denied: 'mailer/translations/ru/LC_MESSAGES'")

    monkeypatch.setattr(i18n, "compile_catalogues", read_only)
    caplog.set_level("WARNING", logger="mailer.i18n")
    create_app(overrides={"TESTING": True}, environ=test_environ)
    assert 'pybabel compile -d mailer/translations -D "messages admin"' in caplog.text


def _clients(owner: User, count: int) -> None:
    db.session.execute(
        db.insert(Client),
        [{"owner_id": owner.id, "email": f"c{n}@example.com"} for n in range(count)],
    )
    db.session.commit()


@pytest.mark.parametrize(("locale", "written"), [("en", "1,234"), ("ru", "1\xa0234")])
def test_counts_are_written_as_the_viewers_language_writes_numbers(login, locale, written):
    owner = factories.make_user("counts@example.com", locale=locale)
    _clients(owner, 1234)
    page = login(owner).get("/clients/?q=example").text
    assert f'<small class="text-body-secondary">{written}</small>' in page  # the heading
    delete_all = "Delete all %s clients found" if locale == "en" else "Удалить всех найденных: %s"
    assert delete_all % written in page  # a count in a sentence (ngettext)
