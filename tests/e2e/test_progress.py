"""A mailing page's live progress keeps going through a failed check, and says why it stops."""

from __future__ import annotations

from datetime import timedelta

from babel.numbers import format_decimal
from playwright.sync_api import Route, expect

from mailer.delivery import tallies
from mailer.extensions import db
from mailer.models import Run, utcnow
from tests import factories
from tests.e2e.ui import log_in


def _sending_mailing(ui):
    owner = factories.make_user("olga@example.com", locale=ui.lang)
    mailing = factories.make_mailing(owner, clients=[factories.make_client(owner, "a@example.com")])
    run = factories.make_run(mailing, total=1)  # unfinished: the page polls its progress
    return owner, mailing, run


def test_a_failed_progress_check_is_said_and_tried_again_until_the_run_finishes(open_page, ui):
    owner, mailing, run = _sending_mailing(ui)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    checks = []

    def first_one_fails(route: Route) -> None:
        checks.append(route.request.url)
        if len(checks) == 1:
            route.abort()  # as when the server restarts
        else:
            route.continue_()

    page.route("**/progress", first_one_fails)
    page.goto(f"/mailings/{mailing.id}")
    state = page.locator("#send-progress [data-state]")
    expect(state).to_have_text(ui.t("Sending…"))

    expect(state).to_have_text(ui.t("The progress could not be fetched; trying again…"))
    db.session.execute(db.update(Run).where(Run.id == run.id).values(finished_at=utcnow()))
    db.session.commit()
    expect(state).to_have_text(ui.t("Finished."), timeout=15_000)
    assert len(checks) == 2


def test_the_live_counts_are_written_as_the_viewers_language_writes_numbers(open_page, ui):
    owner, mailing, run = _sending_mailing(ui)
    db.session.get(Run, run.id).total = 2500  # as a bigger mailing's run
    db.session.commit()
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/mailings/{mailing.id}")
    box = page.locator("#send-progress")
    expect(box.locator("[data-count=total]")).to_have_text(format_decimal(2500, locale=ui.lang))
    expect(box.locator("[data-failed]")).not_to_have_class("text-danger")  # none failed

    tallies.add(run.id, attempts=1203, sent=1200, failed=3)  # as the sender counts them
    db.session.commit()

    sent = format_decimal(1200, locale=ui.lang)
    expect(box.locator("[data-count=sent]")).to_have_text(sent, timeout=15_000)  # polled every 3 s
    expect(box.locator("[data-failed]")).to_have_class("text-danger")
    expect(box.locator("[data-count=pending]")).to_have_text(format_decimal(1297, locale=ui.lang))


def test_a_mailing_deleted_meanwhile_is_said_and_the_page_stops_asking(open_page, ui):
    owner, mailing, _run = _sending_mailing(ui)
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.route("**/progress", lambda route: route.fulfill(status=404, body="{}"))
    page.goto(f"/mailings/{mailing.id}")

    expect(page.locator("#send-progress [data-state]")).to_have_text(
        ui.t("This mailing no longer exists.")
    )


def test_a_try_that_failed_for_a_passing_reason_is_said_until_one_goes_through(open_page, ui):
    owner = factories.make_user("olga@example.com", locale=ui.lang, timezone="UTC")
    client = factories.make_client(owner, "a@example.com")
    mailing = factories.make_mailing(owner, clients=[client])
    run = factories.make_run(mailing)
    delivery = factories.make_delivery(run, client, status="sending")
    page = open_page(ui.lang)
    log_in(page, ui, owner.email, factories.PASSWORD)
    page.goto(f"/mailings/{mailing.id}")
    state = page.locator("#send-progress [data-state]")
    expect(state).to_have_text(ui.t("Sending…"))

    # The mail server cannot be reached: the email waits for its retry, as the sender leaves it.
    failed_at = utcnow()
    next_try_at = failed_at + timedelta(minutes=2)
    delivery.status, delivery.tries, delivery.next_try_at = "retry", 1, next_try_at
    factories.make_attempt(
        run,
        client,
        success=False,
        reply_code=None,
        reply="connection refused",
        delivery_id=delivery.id,
        attempted_at=failed_at,
    )
    expect(state).to_have_text(
        ui.t(
            "The last try, at %(failed)s, did not go through: %(reply)s. Mailer tries again by"
            " itself, next at %(next)s; if this goes on, the mail server or mailer's mail"
            " settings need a look.",
            failed=f"{failed_at:%Y-%m-%d %H:%M}",
            reply=ui.t("connection refused"),
            next=f"{next_try_at:%Y-%m-%d %H:%M}",
        ),
        timeout=15_000,
    )

    delivery.status = "sent"
    factories.make_attempt(run, client, delivery_id=delivery.id)
    expect(state).to_have_text(ui.t("Sending…"), timeout=15_000)
