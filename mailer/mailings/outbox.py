"""An email of a run as the embedded default wrote it to the outbox (MAIL_OUTBOX), read
back for the attempt log: trying mailer without a mail server, its owner sees what each
client got, headers and all, without opening the .eml files.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from mailer.delivery.render import Rendered
from mailer.mailings.attempt_replies import WRITTEN
from mailer.models import Attempt

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
class OutboxEmail:
    name: str
    headers: list[tuple[str, str]]
    rendered: Rendered


def file_name(attempt: Attempt) -> str | None:
    """The outbox file the attempt wrote, when mailer writes emails to files and this
    attempt did; a plain file name (a reply is never a path into another folder)."""
    if not current_app.config.get("MAIL_OUTBOX"):
        return None
    match = WRITTEN.fullmatch(attempt.reply or "")
    if match is None:
        return None
    name = match[1]
    return name if Path(name).name == name and name.endswith(".eml") else None


def read(attempt: Attempt) -> OutboxEmail | None:
    """The attempt's email from the outbox; None when it wrote none, or the file is gone."""
    name = file_name(attempt)
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
