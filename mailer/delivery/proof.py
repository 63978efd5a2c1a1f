"""Test emails (proofs): one email of a message, sent to its owner before any client
gets it.

It is built and sent as a run's emails are (the same rendering, MessageBuilder
and SMTP transport), personalised as one of the owner's clients would get it,
so what arrives is what that client would see, in a real mail program. Only
the subject says "[Test]", and its unsubscribe link opens the page clients
see without changing anything. It goes to the owner's own address alone.

It is no delivery of any run: no attempt row, nothing counted on a report.
It does count against the SMTP account's rate limit (the provider counts
it; UnloggedSends keeps it for a day's count made anew), and an owner may
send TEST_EMAILS_PER_HOUR of them an hour. The caller commits.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import current_app

from mailer.delivery.ratelimit import count_unlogged, limiter_from_config
from mailer.delivery.render import Rendered, render_message
from mailer.delivery.sender import message_builder
from mailer.delivery.transport import Reply, transport_from_config
from mailer.delivery.unsubscribe import preview_url
from mailer.mail import mask_email
from mailer.models import Message

log = logging.getLogger(__name__)

# Signs the Message-ID: no run has this id, so a bounce report of a test email is
# left alone by the inbox reader.
NO_RUN = 0


class NotRendered(Exception):
    """The message cannot be rendered for that client (a template error)."""


def send_test(*, message: Message, to: str, client: Any, subject_prefix: str) -> Reply:
    """Send `message` to `to`, personalised for `client` (a client row or a stand-in with
    email, full_name and comment); the server's reply. DayQuotaUsed when today's sending
    quota is spent; NotRendered when the message cannot be rendered for `client`."""
    unsubscribe_url = preview_url()
    try:
        rendered = render_message(message, client=client, unsubscribe_url=unsubscribe_url)
    except Exception as error:  # noqa: BLE001 - the owner's template, as the sender's
        raise NotRendered(str(error)) from error
    owner = message.owner
    builder = message_builder(
        NO_RUN,
        has_html=bool(rendered.html),
        sender_name=owner.sender_name,
        reply_to=owner.reply_to,
    )
    data = builder.build(
        to=to,
        # Its own Message-ID each time: a provider drops an email whose Message-ID it has
        # had already (Gmail does), so the test after an edit never arrived.
        client_id=secrets.randbits(62),
        rendered=Rendered(f"{subject_prefix} {rendered.subject}", rendered.text, rendered.html),
        unsubscribe_url=unsubscribe_url,
        mailto=f"{builder.sender_address}?subject=unsubscribe",
    )
    limiter = limiter_from_config()
    limiter.acquire()  # DayQuotaUsed goes to the caller
    transport = transport_from_config(current_app.config)
    try:
        reply = transport.send(builder.sender_address, to, data)
    finally:
        transport.close()
        limiter.release()
    count_unlogged(1)
    masked = mask_email(to)
    log.info(
        "test email of message %s to %s: %s",
        message.id,
        masked,
        f"{reply.code or 'no reply'} {reply.text}".replace(to, masked),
    )
    return reply
