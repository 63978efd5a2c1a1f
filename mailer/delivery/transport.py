"""Where a built email goes: the SMTP server (MAIL_* settings) or the outbox folder.

Both answer every send with a `Reply`: the server's code and text, or
code None when no reply came (refused, dropped, timed out). The sender
treats both transports the same.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import NamedTuple

from mailer.mail import write_to_outbox


class Reply(NamedTuple):
    code: int | None  # None: no reply (refused, dropped, timed out)
    text: str
    stage: str = "data"  # where it ended: connect, mail, rcpt, data

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code is not None and self.code >= 500


class SmtpTransport:
    """One SMTP connection, opened on first use and again after the server drops it."""

    def __init__(self, config) -> None:
        self.host = config["MAIL_SERVER"]
        self.port = config["MAIL_PORT"]
        self.use_ssl = config["MAIL_USE_SSL"]
        self.use_tls = config["MAIL_USE_TLS"]
        self.username = config["MAIL_USERNAME"]
        self.password = config["MAIL_PASSWORD"]
        self.timeout = config["MAIL_TIMEOUT"]
        self.smtp: smtplib.SMTP | None = None
        self.connections = 0

    def _connect(self) -> smtplib.SMTP:
        # Loading the CA store costs ~30 ms: only when TLS is used.
        context = ssl.create_default_context() if self.use_ssl or self.use_tls else None
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.use_tls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    def send(self, sender: str, recipient: str, data: bytes) -> Reply:
        stage = "connect"
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            smtp = self.smtp
            stage = "mail"
            code, text = smtp.mail(sender)
            if code == 250:
                stage = "rcpt"
                code, text = smtp.rcpt(recipient)
                if code in (250, 251):
                    stage = "data"
                    code, text = smtp.data(data)
            reply = Reply(code, _text(text), stage)
            if code == 421:  # the server is closing the connection
                self.close()
            elif not reply.ok:
                smtp.rset()
            return reply
        except smtplib.SMTPResponseException as error:
            self.close()
            return Reply(error.smtp_code, _text(error.smtp_error), stage)
        except (smtplib.SMTPException, OSError) as error:  # timeouts are OSErrors
            self.close()
            return Reply(None, _no_reply(stage, error), stage)

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class OutboxTransport:
    """The embedded default: each email becomes an .eml file in MAIL_OUTBOX."""

    def __init__(self, outbox: str) -> None:
        self.outbox = outbox
        self.connections = 0

    def send(self, sender: str, recipient: str, data: bytes) -> Reply:
        try:
            path = write_to_outbox(self.outbox, recipient, data)
        except OSError as error:
            return Reply(None, f"could not write to the outbox: {error}", "data")
        return Reply(250, f"written to {path.name}", "data")

    def close(self) -> None:
        pass


def transport_from_config(config) -> SmtpTransport | OutboxTransport:
    if config.get("MAIL_OUTBOX"):
        return OutboxTransport(config["MAIL_OUTBOX"])
    return SmtpTransport(config)


def _text(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text)


def _no_reply(stage: str, error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"timed out during {stage}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"connection dropped during {stage}"
    return f"{type(error).__name__} during {stage}: {error}"
