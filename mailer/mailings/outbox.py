"""An email as the embedded default wrote it to the outbox (MAIL_OUTBOX), read back: trying
mailer without a mail server, its owner sees what each client got (from the attempt log)
and their own test emails, headers and all, without opening the .eml files; in debug
mode, the Outbox page opens any of them (mailer/main/outbox_routes.py).

A test email has no attempt row to own it, so the link to it carries its file name signed
for its owner and message (test_email_token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from mailer import signing
from mailer.delivery.render import Rendered
from mailer.mailings.attempt_replies import WRITTEN
from mailer.models import Attempt, Message, User

# The headers the page shows, in this order, when the email has them, each named in the
# viewer's language (Message-ID has no other name).
SHOWN_HEADERS = {
    "From": _l("Sender"),
    "Reply-To": _l("Replies go to"),
    "To": _l("Recipient"),
    "Date": _l("Date"),
    "Message-ID": "Message-ID",
    "List-Unsubscribe": _l("Unsubscribe link"),
}


@dataclass(frozen=True)
class Listed:
    """An email of the outbox, as the Outbox page lists it."""

    name: str
    date: datetime | None
    to: str
    subject: str


@dataclass(frozen=True)
class OutboxEmail:
    name: str
    headers: list[tuple[str, str]]
    rendered: Rendered


def browsable() -> bool:
    """Whether the Outbox page opens the outbox: in debug mode (trying mailer on one's own
    machine), with emails written to files. A server's outbox holds its users' emails."""
    return bool(current_app.debug and current_app.config.get("MAIL_OUTBOX"))


def newest(count: int) -> tuple[list[Listed], int]:
    """The outbox's `count` newest emails, newest first (their files are named by the time
    they were written), and how many older ones it holds. Only their headers are read."""
    folder = Path(current_app.config["MAIL_OUTBOX"])
    names = sorted((path.name for path in folder.glob("*.eml")), reverse=True)
    listed = [_listed(folder / name) for name in names[:count]]
    return [email for email in listed if email is not None], max(len(names) - count, 0)


def _listed(path: Path) -> Listed | None:
    try:
        with path.open("rb") as file:
            headers = BytesHeaderParser(policy=default_policy).parse(file)
    except OSError:  # removed since the folder was read
        return None
    date = headers["Date"]
    return Listed(
        name=path.name,
        date=date.datetime if date is not None else None,
        to=str(headers["To"] or ""),
        subject=str(headers["Subject"] or ""),
    )


def written_file(reply: str) -> str | None:
    """The outbox file a reply says it wrote, when mailer writes emails to files."""
    match = WRITTEN.fullmatch(reply)
    return outbox_file(match[1]) if match else None


def outbox_file(name: object) -> str | None:
    """`name` when mailer writes emails to files and it is a plain .eml file name there
    (never a path into another folder)."""
    if not current_app.config.get("MAIL_OUTBOX") or not isinstance(name, str):
        return None
    return name if Path(name).name == name and name.endswith(".eml") else None


def file_name(attempt: Attempt) -> str | None:
    """The outbox file the attempt wrote, if it wrote one."""
    return written_file(attempt.reply or "")


def read(attempt: Attempt) -> OutboxEmail | None:
    """The attempt's email from the outbox; None when it wrote none, or the file is gone."""
    return read_file(file_name(attempt))


def test_email_token(owner: User, message: Message, name: str) -> str:
    """What the link to a test email carries: its file name, for this owner and message."""
    return _test_email_serializer().dumps({"owner": owner.id, "message": message.id, "file": name})


def test_email_file(token: str, owner: User, message: Message) -> str | None:
    """The outbox file a test_email_token names, if it was made for this owner and message."""
    try:
        data = _test_email_serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    if (data.get("owner"), data.get("message")) != (owner.id, message.id):
        return None
    return outbox_file(data.get("file"))


def _test_email_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing.oldest_first(), salt="mailer.test-email")


def read_file(name: str | None) -> OutboxEmail | None:
    """The email in the outbox file `name` (one outbox_file allowed); None for no name, or
    once the file is gone."""
    if name is None:
        return None
    try:
        data = (Path(current_app.config["MAIL_OUTBOX"]) / name).read_bytes()
    except OSError:
        return None
    message = message_from_bytes(data, policy=default_policy)
    return OutboxEmail(
        name=name,
        headers=[
            (str(label), str(message[header]))
            for header, label in SHOWN_HEADERS.items()
            if header in message
        ],
        rendered=Rendered(
            str(message["Subject"] or ""), _part(message, "plain"), _part(message, "html")
        ),
    )


def _part(message, subtype: str) -> str:
    """The text of the email's `subtype` part, its CRLF line ends (as sent) read as newlines."""
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content().replace("\r\n", "\n") if part is not None else ""
