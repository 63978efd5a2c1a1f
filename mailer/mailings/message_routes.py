"""The owner's message screens: list, create (new, or as a copy), edit, delete, preview for
a client, and a test email of it to the owner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import or_
from werkzeug.wrappers import Response

from mailer.auth.throttle import minutes_to_wait, test_email_throttle
from mailer.delivery import proof, unsubscribe
from mailer.delivery.ratelimit import DayQuotaUsed
from mailer.delivery.render import Rendered
from mailer.extensions import db
from mailer.i18n import ngettext
from mailer.ids import an_id
from mailer.mailings import bp, outbox
from mailer.mailings import message_services as services
from mailer.mailings.attempt_replies import shown_reply
from mailer.mailings.client_queries import clients_query
from mailer.mailings.message_forms import MessageForm
from mailer.mailings.pagination import page_number, page_or_404
from mailer.models import Client, Message
from mailer.models.search import contains_as_typed

PER_PAGE = 25
# The preview's client menu lists this many (of those the search finds); any other
# own client works by id.
PREVIEW_CLIENT_CHOICES = 100


def _own_message(message_id: int) -> Message:
    return Message.owned_by(current_user).filter_by(id=message_id).first_or_404()


@bp.route("/messages/")
@login_required
def message_list():
    """The owner's messages, last changed first; `?q=` finds those whose subject or text
    contains it (any case; % and _ as typed)."""
    search = request.args.get("q", "").strip()
    query = Message.owned_by(current_user)
    if search:
        query = query.filter(
            or_(
                contains_as_typed(Message.subject, search),
                contains_as_typed(Message.body_text, search),
            )
        )
    page = query.order_by(Message.updated_at.desc(), Message.id.desc()).paginate(
        page=page_number(), per_page=PER_PAGE, error_out=False
    )
    page = page_or_404(page)
    return render_template(
        "mailings/messages/list.html",
        page=page,
        search=search,
        used_by=services.mailing_counts([message.id for message in page.items]),
    )


@bp.route("/messages/new", methods=["GET", "POST"])
@login_required
def message_create():
    """A new message; `?copy=<id>` starts it as a copy of one of the owner's (nothing is
    saved until they save it)."""
    copy_id = request.args.get("copy", type=an_id)
    source = _own_message(copy_id) if copy_id is not None else None
    form = MessageForm(obj=source)
    saved, draft = _sent(form, lambda data: services.create_message(owner=current_user, data=data))
    if saved is not None:
        return saved
    return render_template(
        "mailings/messages/form.html", form=form, message=None, source=source, draft=draft
    )


@bp.route("/messages/<int:message_id>/edit", methods=["GET", "POST"])
@login_required
def message_edit(message_id: int):
    message = _own_message(message_id)
    form = MessageForm(obj=message)
    saved, draft = _sent(form, lambda data: services.update_message(message=message, data=data))
    if saved is not None:
        return saved
    return render_template(
        "mailings/messages/form.html",
        form=form,
        message=message,
        used_by=services.mailings_using(message),
        using=services.mailings_of(message),
        draft=draft,
    )


@bp.route("/messages/<int:message_id>/delete", methods=["POST"])
@login_required
def message_delete(message_id: int):
    message = _own_message(message_id)
    try:
        services.delete_message(message=message)
    except services.MessageError as error:
        flash(error.errors["message"], "danger")
        return redirect(url_for("mailings.message_preview", message_id=message_id))
    db.session.commit()
    flash(_("Message deleted."), "success")
    return redirect(url_for("mailings.message_list"))


@bp.route("/messages/<int:message_id>")
@login_required
def message_preview(message_id: int):
    message = _own_message(message_id)
    search = request.args.get("q", "").strip()
    choices = _preview_choices(search)
    if search and not choices:
        flash(_("No client matches “%(search)s”.", search=search), "warning")
        choices = _preview_choices("")
    chosen = _preview_client(request.args.get("client_id", type=an_id), choices)
    used_by = services.mailings_using(message)
    return render_template(
        "mailings/messages/preview.html",
        message=message,
        choices=choices,
        chosen=chosen,
        search=search,
        undeletable=services.why_not_deletable(message, used_by),
        used_by=used_by,
        using=services.mailings_of(message),
        **services.shown_to(message, chosen or services.sample_client()),
    )


@bp.route("/messages/<int:message_id>/test", methods=["POST"])
@login_required
def message_send_test(message_id: int):
    """Send the message to its owner, as the client picked in the preview would get it."""
    message = _own_message(message_id)
    client_id = request.form.get("client_id", type=an_id)
    chosen = _own_client(client_id) if client_id is not None else None
    back = redirect(url_for("mailings.message_preview", message_id=message.id, client_id=client_id))
    throttle, keys = test_email_throttle(), [f"user:{current_user.id}"]
    # Counted before sending, in one step with the check: tests sent at once cannot all
    # pass it before one is counted. Given back below when nothing was sent.
    wait = throttle.take(keys)
    if wait:
        flash(
            ngettext(
                "You sent as many test emails as an hour allows. Try again in %(num)s minute.",
                "You sent as many test emails as an hour allows. Try again in %(num)s minutes.",
                minutes_to_wait(wait),
            ),
            "warning",
        )
        return back
    try:
        reply = proof.send_test(
            message=message,
            to=current_user.email,
            client=chosen or services.sample_client(),
            subject_prefix=_("[Test]"),
        )
    except proof.NotRendered as error:
        throttle.give_back(keys)
        flash(_("The message cannot be made for this client: %(error)s", error=error), "danger")
        return back
    except DayQuotaUsed as quota:
        throttle.give_back(keys)
        flash(
            _(
                "Today's sending limit is used up, and a test email counts against it. "
                "Sending resumes at %(when)s.",
                when=format_datetime(quota.until, "yyyy-MM-dd HH:mm"),
            ),
            "warning",
        )
        return back
    db.session.commit()  # the day's sending count
    answer = f"{reply.code or ''} {shown_reply(reply.text)}".strip()
    written = outbox.written_file(reply.text) if reply.ok else None
    if written is not None:
        flash(_written_test_email(message, written), "success")
    elif reply.ok:
        flash(
            _(
                "A test email is on its way to %(email)s (the mail server answered: %(reply)s).",
                email=current_user.email,
                reply=answer,
            ),
            "success",
        )
    else:
        flash(_("The test email was not sent: %(reply)s", reply=answer), "danger")
    return back


def _written_test_email(message: Message, name: str) -> Markup:
    """The flash of a test email the embedded default wrote to the outbox: a link to it."""
    token = outbox.test_email_token(current_user, message, name)
    return Markup('{} <a href="{}" class="alert-link">{}</a>').format(
        _(
            "No mail server is set up, so the test email was written to the outbox"
            " instead of sent to %(email)s.",
            email=current_user.email,
        ),
        url_for("mailings.message_test_email", message_id=message.id, token=token),
        _("Open it"),
    )


@bp.route("/messages/<int:message_id>/test-emails/<token>")
@login_required
def message_test_email(message_id: int, token: str):
    """A test email the embedded default wrote to the outbox, as it would have arrived."""
    message = _own_message(message_id)
    email = outbox.read_file(outbox.test_email_file(token, current_user, message))
    if email is None:
        abort(404)
    return render_template("mailings/messages/test_email.html", message=message, email=email)


def _preview_choices(search: str) -> list[Client]:
    return clients_query(current_user, search=search).limit(PREVIEW_CLIENT_CHOICES).all()


def _preview_client(client_id: int | None, choices: list[Client]) -> Client | None:
    """The client asked for (only the owner's own), else the first in the menu."""
    if client_id is None:
        return choices[0] if choices else None
    for client in choices:
        if client.id == client_id:
            return client
    return _own_client(client_id)


def _own_client(client_id: int) -> Client:
    return Client.owned_by(current_user).filter_by(id=client_id).first_or_404()


def _sent(
    form: MessageForm, save: Callable[[services.MessageData], Message]
) -> tuple[Response | None, Draft | None]:
    """What the sent form asks for: Save saves it through `save` and answers with the way
    to the message's page; Preview (request.form's `action`) gives the draft to show and
    saves nothing. (None, None): nothing sent, or the errors are on the form."""
    if not _checked(form):
        return None, None
    if request.form.get("action") == "preview":
        return None, _draft(form)
    try:
        message = save(form.data_for_model())
    except services.MessageError as error:
        _show_errors(form, error)
        return None, None
    db.session.commit()
    flash(_("Message saved."), "success")
    return redirect(url_for("mailings.message_preview", message_id=message.id)), None


@dataclass(frozen=True)
class Draft:
    client: Any  # the owner's first client by address, or a sample one
    rendered: Rendered


def _draft(form: MessageForm) -> Draft | None:
    """The form's message as the owner's first client gets it; None, with each template
    error at its field, when it cannot be sent as it is."""
    data = form.data_for_model()
    errors = services.template_errors(data)
    if errors:
        _show_errors(form, services.MessageError(errors))
        return None
    client = clients_query(current_user).first() or services.sample_client()
    try:
        rendered = services.render_preview(
            message=data, client=client, unsubscribe_url=unsubscribe.preview_url()
        )
    except services.FailsForClient as error:
        _show_errors(form, error)
        return None
    return Draft(client, rendered)


def _show_errors(form: MessageForm, error: services.MessageError) -> None:
    for name, text in error.errors.items():
        getattr(form, name).errors.append(text)


def _checked(form: MessageForm) -> bool:
    """Whether a form was sent and passes its own checks. One that does not (an empty
    subject) is also checked for its templates, so that one submit shows every field to
    mend; one that does has its templates checked by the service that saves it."""
    if not form.is_submitted():
        return False
    if form.validate():
        return True
    for name, text in services.template_errors(form.data_for_model()).items():
        field = getattr(form, name)
        if not field.errors:
            field.errors.append(text)
    return False
