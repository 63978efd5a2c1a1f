"""Every main page, as each role sees it with data on it: labelled fields, and its own language.

The journeys check the pages they pass through; this visits the rest too (the
edit forms, the log, reports, profile, the managers' screens), in English and
in Russian.
"""

from __future__ import annotations

from tests import factories
from tests.e2e.ui import Interface, log_in


def _visit(page, ui: Interface, paths: list[str]) -> None:
    for path in paths:
        response = page.goto(path)
        assert response.ok, f"{path} answered {response.status}"
        ui.look(page)


def test_main_pages_label_every_field_and_speak_the_users_language(open_page, ui):
    people = {"locale": ui.lang, "timezone": "Europe/Moscow"}
    owner = factories.make_user("olga@example.com", full_name="Ольга", **people)
    client = factories.make_client(owner, "anna@example.com", full_name="Анна")
    factories.make_client(owner, "boris@example.com", full_name="Борис")
    message = factories.make_message(owner, subject="Новости")
    mailing = factories.make_mailing(owner, message=message, clients=[client], frequency="weekly")
    run = factories.make_run(mailing)
    factories.make_delivery(run, client)
    factories.make_attempt(run, client)
    manager = factories.make_user("max@example.com", roles=["manager"], **people)
    article = factories.make_article("Статья", body="Текст статьи.")

    visitor = open_page(ui.lang)
    _visit(visitor, ui, ["/", "/auth/login", "/auth/register", "/auth/reset", "/auth/confirm"])
    _visit(visitor, ui, ["/blog/", f"/blog/{article.id}"])

    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    _visit(page, ui, ["/", "/clients/", "/clients/new", f"/clients/{client.id}/edit"])
    _visit(page, ui, ["/clients/import", "/messages/", "/messages/new"])
    _visit(page, ui, [f"/messages/{message.id}", f"/messages/{message.id}/edit"])
    _visit(page, ui, ["/mailings/", "/mailings/new", f"/mailings/{mailing.id}"])
    _visit(page, ui, [f"/mailings/{mailing.id}/edit", "/attempts/", "/reports/"])
    _visit(page, ui, ["/auth/profile", "/auth/password", "/auth/logins", "/blog/"])

    page = open_page(ui.lang)
    log_in(page, ui, manager.email, factories.PASSWORD)
    _visit(page, ui, ["/", "/manager/users", "/manager/mailings", "/manager/attempts"])
    ui.assert_translated()
