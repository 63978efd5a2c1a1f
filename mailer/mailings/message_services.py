"""Writes on messages: create, edit, delete. Services flush; the caller commits.

A message's templates are checked by `delivery.render.validate_message` on
every save, so a template that would fail when sending is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailer.delivery.render import (
    SAMPLE_CLIENT,
    Rendered,
    render_message,
    to_context,
    validate_message,
)
from mailer.delivery.unsubscribe import preview_url
from mailer.extensions import db
from mailer.i18n import ngettext
from mailer.mailings.template_errors import localised
from mailer.models import Mailing, Message, User

SUBJECT_MAX = 255


class MessageError(Exception):
    """The message cannot be saved or deleted; `errors` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class FailsForClient(MessageError):
    """The templates passed the check with the sample client, and fail for this client:
    sending fails their email (the attempt log says why). `reasons`: each field's
    template error; `errors` say them for the form's fields, naming the client."""

    def __init__(self, reasons: dict[str, str], email: str):
        super().__init__(
            {
                name: _(
                    "%(error)s (for %(email)s, whose email would not be sent)",
                    error=reason,
                    email=email,
                )
                for name, reason in reasons.items()
            }
        )
        self.reasons = reasons
        self.email = email


@dataclass(frozen=True)
class MessageData:
    subject: str
    body_text: str
    body_html: str = ""


def template_errors(data: MessageData, client: Any = None) -> dict[str, str]:
    """Each part's template error, in the viewer's language, by form field: rendered for
    `client` (a client row or stand-in), else for the sample client saving checks with."""
    errors = validate_message(
        subject=data.subject,
        body_text=data.body_text,
        body_html=data.body_html,
        **({} if client is None else {"client": to_context(client)}),
    )
    return {name: localised(error) for name, error in errors.items()}


def _check_templates(data: MessageData) -> None:
    if errors := template_errors(data):
        raise MessageError(errors)


def create_message(*, owner: User, data: MessageData) -> Message:
    _check_templates(data)
    message = Message(
        owner_id=owner.id, subject=data.subject, body_text=data.body_text, body_html=data.body_html
    )
    db.session.add(message)
    db.session.flush()
    return message


def update_message(*, message: Message, data: MessageData) -> Message:
    _check_templates(data)
    message.subject = data.subject
    message.body_text = data.body_text
    message.body_html = data.body_html
    db.session.flush()
    return message


def mailings_using(message: Message) -> int:
    return (
        db.session.scalar(select(func.count(Mailing.id)).where(Mailing.message_id == message.id))
        or 0
    )


USING_SHOWN = 10  # mailings a message's pages name; "and N more" after them


def mailings_of(message: Message) -> list[Mailing]:
    """The newest USING_SHOWN mailings that use the message, for its pages to name."""
    return (
        Mailing.query.filter_by(message_id=message.id)
        .order_by(Mailing.id.desc())
        .limit(USING_SHOWN)
        .all()
    )


def why_not_deletable(message: Message, used: int | None = None) -> str | None:
    """Why the message cannot be deleted (mailings use it: `used` of them, when counted
    already), or None."""
    used = mailings_using(message) if used is None else used
    return _in_use(used) if used else None


def delete_message(*, message: Message) -> None:
    """Delete a message no mailing uses (the foreign key refuses the others too)."""
    reason = why_not_deletable(message)
    if reason:
        raise MessageError({"message": reason})
    db.session.delete(message)
    try:
        db.session.flush()
    except IntegrityError:  # a mailing took it between the check and the delete
        db.session.rollback()
        raise MessageError({"message": _in_use(1)}) from None


def _in_use(count: int) -> str:
    return ngettext(
        "This message is used by %(num)s mailing; delete or change it first.",
        "This message is used by %(num)s mailings; delete or change them first.",
        count,
    )


def render_preview(*, message: Message | MessageData, client, unsubscribe_url: str) -> Rendered:
    """The message as `client` would get it, byte for byte: the page shows the HTML part in
    a sandboxed frame (no scripts, an origin of its own), as a mail program would.
    FailsForClient when a template that passed the check fails for this client."""
    try:
        return render_message(message, client=client, unsubscribe_url=unsubscribe_url)
    except Exception as error:  # noqa: BLE001 - the owner's template, as the sender's
        data = MessageData(message.subject, message.body_text, message.body_html or "")
        errors = template_errors(data, client) or {"body_text": localised(str(error))}
        raise FailsForClient(errors, client.email) from None


def shown_to(message: Message, client) -> dict[str, Any]:
    """A page's `rendered` (the message as `client` gets it, its unsubscribe link the
    harmless preview) or `failed` (FailsForClient), for _rendered.html."""
    try:
        rendered = render_preview(message=message, client=client, unsubscribe_url=preview_url())
    except FailsForClient as failed:
        return {"rendered": None, "failed": failed}
    return {"rendered": rendered, "failed": None}


def mailing_counts(message_ids: list[int]) -> dict[int, int]:
    """How many mailings use each of the messages (those none uses are left out): one query."""
    if not message_ids:
        return {}
    rows = db.session.execute(
        select(Mailing.message_id, func.count())
        .where(Mailing.message_id.in_(message_ids))
        .group_by(Mailing.message_id)
    )
    return {message_id: count for message_id, count in rows}


def has_messages(owner: User) -> bool:
    return db.session.scalar(select(Message.owned_by(owner).exists())) or False


def sample_client():
    """The stand-in client of a preview (an owner with no clients yet, a manager's look at a
    mailing), named in the viewer's language."""
    return SAMPLE_CLIENT._replace(full_name=_("Sample Client"), comment=_("A comment"))
