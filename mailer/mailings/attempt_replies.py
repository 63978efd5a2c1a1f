"""The replies mailer writes itself into the attempt log (no server gave them), said in the
viewer's language. The log stores them in English, as mailer wrote them (the CSV export
keeps that); a server's own reply is shown as the server sent it.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.delivery.sender import RENDER_FAILURE, UNKNOWN_REPLY
from mailer.mail import certificate_hint
from mailer.mailings import bp

# Where in the SMTP conversation it happened (transport.py's stages).
STAGES = {
    "connect": _l("connecting"),
    "mail": _l("the sender's address"),
    "rcpt": _l("the recipient's address"),
    "data": _l("the message"),
}
WHOLE = {
    "connection refused": _l("connection refused"),
    UNKNOWN_REPLY: _l("the worker stopped during sending: the outcome is unknown, not resent"),
    "not sent: the address is not ASCII and the server lacks SMTPUTF8": _l(
        "not sent: the address has letters other than Latin before the @, and the server"
        " does not take them (SMTPUTF8)"
    ),
}
TIMED_OUT = re.compile(r"timed out during (\w+)")
WRITTEN = re.compile(r"written to (\S+)")  # the embedded default's outbox (transport.py)
UNWRITTEN = re.compile(r"could not write to the outbox: (.*)", re.S)
DROPPED = re.compile(r"connection dropped during (\w+)")
# Any other failure to talk to the server (TLS, a name that does not resolve...): Python's
# own words, after the error's name and the stage, then perhaps a hint of mailer's.
FAILED = re.compile(r"(\w+) during (\w+): (.*)", re.S)
HINTS = {
    certificate_hint("CERTIFICATE_VERIFY_FAILED mismatch", "MAIL_SERVER"): _l(
        "MAIL_SERVER must be a name the server's certificate is made for"
    ),
    certificate_hint("CERTIFICATE_VERIFY_FAILED", "MAIL_SERVER"): _l(
        "to trust a private CA, point SSL_CERT_FILE at a file with its certificate"
    ),
}


@bp.app_template_filter()
def shown_reply(reply: str) -> str:
    """`reply` in the viewer's language when mailer wrote it; as it is when a server did."""
    if reply in WHOLE:
        return str(WHOLE[reply])
    if (match := TIMED_OUT.fullmatch(reply)) and match[1] in STAGES:
        return _("no answer in time (%(stage)s)", stage=STAGES[match[1]])
    if (match := DROPPED.fullmatch(reply)) and match[1] in STAGES:
        return _("the server closed the connection (%(stage)s)", stage=STAGES[match[1]])
    if match := WRITTEN.fullmatch(reply):
        return _("written to %(file)s", file=match[1])
    if match := UNWRITTEN.fullmatch(reply):
        return _("could not write to the outbox: %(error)s", error=match[1])
    if (match := FAILED.fullmatch(reply)) and match[2] in STAGES:
        return _failed(match[1], STAGES[match[2]], match[3])
    if reply.startswith(RENDER_FAILURE):
        error = reply.removeprefix(RENDER_FAILURE)
        return _("not sent: the message failed for this client: %(error)s", error=error)
    return reply


def _failed(error: str, stage: str, detail: str) -> str:
    for written, hint in HINTS.items():
        if detail.endswith(written):
            detail = f"{detail.removesuffix(written)} ({hint})"
            break
    return _("%(error)s (%(stage)s): %(detail)s", error=error, stage=stage, detail=detail)
