"""Sending one email outside a mailing (account flow: confirm, reset), with Flask-Mail.

Mailings are sent by `mailer.delivery`; both write to the same place: the
SMTP server from MAIL_* settings, or `.eml` files in MAIL_OUTBOX when no
server is configured (the embedded default).

Flask-Mail 0.10 gives smtplib no SSL context, so Python would check neither
the server's certificate nor its name: `_VerifiedConnection` does both, as
the mailings' transport does, and gives up after MAIL_TIMEOUT. The settings
are read at each send, not once at start-up.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
import uuid
from email.utils import make_msgid, parseaddr
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_mail import Connection, Message

from mailer.extensions import mail
from mailer.models import utcnow

log = logging.getLogger(__name__)


class MailError(Exception):
    """An email was not sent; the message is the reason, for the log."""

    def __init__(self, reason: str, *, not_ascii: bool = False, refused: bool = False) -> None:
        super().__init__(reason)
        self.not_ascii = not_ascii  # letters other than Latin before the @
        self.refused = refused  # the server refused the address for good


class _VerifiedConnection(Connection):
    """Flask-Mail's connection, checking the server's certificate and host name."""

    def configure_host(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        timeout = current_app.config["MAIL_TIMEOUT"]
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(
                self.mail.server, self.mail.port, timeout=timeout, context=context
            )
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        try:
            if self.mail.use_tls:
                host.starttls(context=context)
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host


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
    """Send one email now, through SMTP or to the outbox; MailError when it was not sent."""
    recipient = ascii_domain(to)
    if not recipient.isascii():  # Flask-Mail cannot write such an address (no SMTPUTF8)
        raise _not_sent(subject, to, "the address has letters other than Latin", not_ascii=True)
    config = current_app.config
    sender = config["MAIL_DEFAULT_SENDER"]
    message = Message(subject, recipients=[recipient], body=text, html=html, sender=sender)
    message.msgId = make_msgid(domain=sender_domain(sender))  # Flask-Mail's: this machine's
    if config.get("MAIL_OUTBOX"):
        write_to_outbox(config["MAIL_OUTBOX"], recipient, message.as_bytes())
    else:
        state = mail.init_mail(config)  # MAIL_* as they are now
        try:
            with _VerifiedConnection(state) as connection:
                connection.send(message)
        except smtplib.SMTPRecipientsRefused as error:
            replies = "; ".join(f"{code} {text!r}" for code, text in error.recipients.values())
            raise _not_sent(subject, to, f"refused: {replies}", refused=True) from error
        except (smtplib.SMTPException, OSError) as error:  # refused, dropped, TLS, timeout
            raise _not_sent(subject, to, f"{type(error).__name__}: {error}") from error
    log.info("sent %r to %s", subject, mask_email(to))


def _not_sent(subject: str, to: str, reason: str, **kinds: bool) -> MailError:
    hint = certificate_hint(reason, "MAIL_SERVER")
    log.warning("not sent %r to %s: %s%s", subject, mask_email(to), reason, hint)
    return MailError(reason, **kinds)


def sender_domain(sender: str) -> str:
    """The domain of a From: value ("Mailer <news@example.com>": example.com). Every
    email's Message-ID is made in it, as a provider's are: a machine's own name
    ("localhost" on many) is what spam filters count against an email."""
    address = parseaddr(sender)[1] or sender
    return address.rpartition("@")[2] or "localhost"


def ascii_domain(address: str) -> str:
    """The address with an internationalised domain in its ASCII form (punycode):
    any server takes `user@xn--e1afmkfd.xn--p1ai`, not every one `user@пример.рф`."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:  # IDNA 2008 as the forms' validator reads it (IDNA 2003 makes straße strasse)
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return address  # the server will refuse it, and say why
    return f"{local}@{valid.ascii_domain}"


def certificate_hint(reason: str, server_setting: str) -> str:
    """What the operator can do about a certificate that was not accepted (SMTP's or
    IMAP's, whose host `server_setting` names); "" for any other failure."""
    if "CERTIFICATE_VERIFY_FAILED" not in reason:
        return ""
    if "mismatch" in reason:
        return f" ({server_setting} must be a name the server's certificate is made for)"
    return " (to trust a private CA, point SSL_CERT_FILE at a file with its certificate)"


def mail_settings_warnings(config) -> list[str]:
    """What the mail settings get wrong without being invalid, said at start: outside
    debug mode, no mail server (every email only written to the outbox, which no page
    shows); a login without TLS to a server on another machine, its password crossing
    the network as written (AUTH PLAIN, IMAP LOGIN)."""
    said = []
    if not config["DEBUG"] and not config["TESTING"] and config["MAIL_OUTBOX"]:
        said.append(
            f"no MAIL_SERVER is set: emails are only written to {config['MAIL_OUTBOX']},"
            " none is sent (set MAIL_SERVER; README, Configuration)"
        )
    for kind, prefix in (("SMTP", "MAIL"), ("IMAP", "INBOX")):
        server = config[f"{prefix}_SERVER"]
        encrypted = config[f"{prefix}_USE_SSL"] or config[f"{prefix}_USE_TLS"]
        if (
            server
            and config[f"{prefix}_USERNAME"]
            and not encrypted
            and not _on_this_machine(server)
        ):
            said.append(
                f"the {kind} password goes to {server} in clear: set {prefix}_USE_SSL or"
                f" {prefix}_USE_TLS (only a server on this machine may do without)"
            )
    return said


def _on_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name
        return False


def mask_email(email: str) -> str:
    """Logs name the domain and the first letter only."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
