"""Sending one email outside a mailing (account flow: confirm, reset).

Mailings are sent by `mailer.delivery`; both write to the same place: the
SMTP server from MAIL_* settings, or `.eml` files in MAIL_OUTBOX when no
server is configured (the embedded default).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import current_app
from flask_mail import Message

from mailer.extensions import mail
from mailer.models import utcnow

log = logging.getLogger(__name__)


def write_to_outbox(outbox: str | Path, recipient: str, data: bytes) -> Path:
    """Store one email as an .eml file named by time, recipient and a unique part."""
    folder = Path(outbox)
    folder.mkdir(parents=True, exist_ok=True)
    safe_recipient = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in recipient)
    path = folder / f"{utcnow():%Y%m%d-%H%M%S}-{safe_recipient}-{uuid.uuid4().hex[:8]}.eml"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)  # readers never see half a file
    return path


def send_email(*, to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one email now, through SMTP or to the outbox."""
    message = Message(subject=subject, recipients=[to], body=text, html=html)
    outbox = current_app.config.get("MAIL_OUTBOX")
    if outbox:
        write_to_outbox(outbox, to, message.as_bytes())
    else:
        mail.send(message)
    log.info("sent %r to %s", subject, _mask(to))


def _mask(email: str) -> str:
    """Logs name the domain and the first letter only."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
