"""Where a built email goes: the SMTP server (MAIL_* settings) or the outbox folder.

Both answer every send with a `Reply`: the server's code and text, or
code None when no reply came (refused, dropped, timed out). The sender
treats both transports the same.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import NamedTuple

from mailer.mail import ascii_domain, certificate_hint, write_to_outbox

_MAX_REPLY_LINE = 8192  # as smtplib
_STAGES = ("mail", "rcpt", "data")
# The replies that let a transaction go on, by stage.
_EXPECTED = {"mail": (250,), "rcpt": (250, 251), "data": (354,)}


def for_policy(status: str) -> bool:
    """A refusal for the server's policy (RFC 3463's 5.7.x: relaying, authentication, a
    message judged spam, DMARC), which says nothing of the address: never a bounce.

    `status` is a reply's text, or a bounce report's Status, from its enhanced code on.
    """
    return status.lstrip().startswith("5.7.")


class Reply(NamedTuple):
    code: int | None  # None: no reply (refused, dropped, timed out)
    text: str
    stage: str = "data"  # where it ended: connect, mail, rcpt, data; address and render: ours

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code is not None and self.code >= 500

    @property
    def policy(self) -> bool:
        return self.permanent and for_policy(self.text)


class SmtpTransport:
    """One SMTP connection, opened on first use and again after the server drops it.

    smtplib opens the connection (EHLO, STARTTLS, AUTH); the mail transactions
    are written here, on its socket: smtplib parses both addresses with the
    `email` package and runs a regex over every message, which costs more
    than the conversation itself. When the server offers PIPELINING (RFC 2920)
    MAIL, RCPT and DATA go out in one write, so an email takes two round trips
    instead of four - what matters most on a distant server.
    """

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
        self.pipelining = False
        self.smtputf8 = False
        self.stage = "connect"  # where the current email's conversation is
        self.announced: tuple[str, str] | None = None  # the envelope written ahead

    def _connect(self) -> smtplib.SMTP:
        # Loading the CA store costs ~30 ms: only when TLS is used.
        context = ssl.create_default_context() if self.use_ssl or self.use_tls else None
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            _greet(smtp)
            if self.use_tls:
                smtp.starttls(context=context)
                _greet(smtp)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        if smtp.file is None:  # replies are read from smtplib's own buffer, never a second one
            smtp.file = smtp.sock.makefile("rb")
        self.pipelining = smtp.has_extn("pipelining")
        self.smtputf8 = smtp.has_extn("smtputf8")
        self.connections += 1
        return smtp

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        following: str | None = None,
    ) -> Reply:
        """Send one email and return the server's reply.

        `following`: the next email's recipient. With PIPELINING its MAIL, RCPT and
        DATA go out behind this message (RFC 2920 allows commands after the final
        dot), so its own `send` finds the replies waiting. Nothing of it is
        delivered before that `send` writes its message, so a crash in between
        sends nothing.
        """
        announced = self.announced == (sender, recipient)
        if self.announced is not None and not announced:
            self.close()  # another email's envelope is out: that transaction must not go on
        self.announced = None
        self.stage = "connect"
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.stage = "mail"
            envelope = self._envelope(sender, recipient)
            if envelope is None:
                # What the server would answer (RFC 6531: 553): permanent, never retried;
                # a stage of its own: this client's address, refused before the server
                # saw it, is neither a bounce nor a refusal of mailer's sender (stage mail).
                return Reply(
                    553,
                    "not sent: the address is not ASCII and the server lacks SMTPUTF8",
                    "address",
                )
            refused = self._open_data(envelope, written=announced)
            if refused is not None:
                return refused
            self.stage = "data"
            message = _dot_stuffed(data)
            ahead = self._envelope(sender, following) if following and self.pipelining else None
            if ahead is not None:
                message += b"".join(ahead)
                self.announced = (sender, following)
            self.smtp.sock.sendall(message)
            code, text = self._reply()
            if code == 421:  # the server is closing the connection
                self.close()
            return Reply(code, text, "data")
        except smtplib.SMTPResponseException as error:
            self.close()
            return Reply(error.smtp_code, _text(error.smtp_error), self.stage)
        except (smtplib.SMTPException, OSError) as error:  # timeouts are OSErrors
            self.close()
            return Reply(None, _no_reply(self.stage, error), self.stage)

    def _envelope(self, sender: str, recipient: str) -> tuple[bytes, bytes, bytes] | None:
        """MAIL, RCPT and DATA; None when an address needs SMTPUTF8 and the server lacks it.

        An international domain goes out in its ASCII form (punycode), which every
        server takes; only letters other than Latin before the @ need SMTPUTF8.
        """
        if not recipient.isascii():
            recipient = ascii_domain(recipient)
        if not sender.isascii():
            sender = ascii_domain(sender)
        option = b""
        if not (sender.isascii() and recipient.isascii()):
            if not self.smtputf8:
                return None
            option = b" SMTPUTF8"
        return (
            b"MAIL FROM:<%s>%s\r\n" % (sender.encode(), option),
            b"RCPT TO:<%s>\r\n" % recipient.encode(),
            b"DATA\r\n",
        )

    def _open_data(self, envelope: tuple[bytes, bytes, bytes], *, written: bool) -> Reply | None:
        """MAIL, RCPT and DATA until the server's 354; the first refusal when there is one."""
        sock = self.smtp.sock
        if self.pipelining and not written:
            sock.sendall(b"".join(envelope))
        refused = None
        for stage, command in zip(_STAGES, envelope, strict=True):
            self.stage = stage
            if not self.pipelining:
                sock.sendall(command)
            code, text = self._reply()
            if code == 421:  # the server is closing: no more replies will come
                self.close()
                return Reply(code, text, self.stage)
            if refused is None and code not in _EXPECTED[self.stage]:
                refused = Reply(code, text, self.stage)
                if not self.pipelining:
                    break  # in lockstep the rest was never sent
        if refused is None:
            return None
        if code == 354:  # DATA accepted without a recipient (RFC 2920 3.1): end it empty
            sock.sendall(b".\r\n")
            self._reply()
        self._reset()
        return refused

    def _reply(self) -> tuple[int, str]:
        """One reply (all its lines), as smtplib reads it."""
        lines = []
        while True:
            line = self.smtp.file.readline(_MAX_REPLY_LINE + 1)
            if not line:
                raise smtplib.SMTPServerDisconnected("connection closed")
            if len(line) > _MAX_REPLY_LINE:
                raise smtplib.SMTPResponseException(500, "Line too long.")
            lines.append(line[4:].strip(b" \t\r\n"))
            try:
                code = int(line[:3])
            except ValueError:
                code = -1
                break
            if line[3:4] != b"-":
                break
        return code, b"\n".join(lines).decode("utf-8", "replace")

    def _reset(self) -> None:
        """RSET after a refused transaction; a server that does not answer is dropped."""
        if self.smtp is None:
            return
        try:
            self.smtp.sock.sendall(b"RSET\r\n")
            self._reply()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        if self.announced is not None:
            # The server may be reading a message now: a QUIT would be a line of it.
            # Dropping the connection aborts that transaction; nothing is delivered.
            self.announced = None
            smtp.close()
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class OutboxTransport:
    """The embedded default: each email becomes an .eml file in MAIL_OUTBOX."""

    def __init__(self, outbox: str) -> None:
        self.outbox = outbox
        self.connections = 0
        self.announced = None  # files have no envelopes to write ahead

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        following: str | None = None,
    ) -> Reply:
        try:
            path = write_to_outbox(self.outbox, recipient, data)
        except OSError as error:
            return Reply(None, f"could not write to the outbox: {error}", "data")
        return Reply(250, f"written to {path.name}", "data")

    def close(self) -> None:
        pass


def _greet(smtp: smtplib.SMTP) -> None:
    """EHLO, or HELO to a server that knows no EHLO (a 5xx: RFC 5321's fallback).

    smtplib's ehlo() returns a refusal ("421 4.7.0 Too busy") without raising: the next
    command then found the connection closed, and each client of the batch spent a try
    on it. The refusal is raised here, on connecting: a refusal of mailer's (SMTPHeloError).
    """
    code, reply = smtp.ehlo()
    if code == 250:
        return
    if 500 <= code < 600:
        code, reply = smtp.helo()
        if code == 250:
            return
    raise smtplib.SMTPHeloError(code, reply)


def transport_from_config(config) -> SmtpTransport | OutboxTransport:
    if config.get("MAIL_OUTBOX"):
        return OutboxTransport(config["MAIL_OUTBOX"])
    return SmtpTransport(config)


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA sends it: a dot doubled at each line start, then the final dot."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\n.", b"\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _text(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text)


def _no_reply(stage: str, error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    # smtplib words a reply that did not come in MAIL_TIMEOUT as a closed connection
    # ("Connection unexpectedly closed: timed out"): a server that says nothing, as an
    # implicit-TLS port does to a plain greeting (MAIL_USE_TLS against port 465).
    if isinstance(error, TimeoutError) or str(error).endswith("timed out"):
        return f"timed out during {stage}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"connection dropped during {stage}"
    reason = f"{type(error).__name__} during {stage}: {error}"
    return reason + certificate_hint(reason, "MAIL_SERVER")
