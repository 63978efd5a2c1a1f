"""The replies mailer writes itself into the attempt log (no server gave them), said in the
viewer's language. The log stores them in English, as mailer wrote them (the CSV export
keeps that); a server's own reply is shown as the server sent it.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.delivery.sender import RENDER_FAILURE, UNKNOWN_REPLY
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
    if reply.startswith(RENDER_FAILURE):
        error = reply.removeprefix(RENDER_FAILURE)
        return _("not sent: the message failed for this client: %(error)s", error=error)
    return reply
