"""Unsubscribe links: a signed token per client, a confirmation page, RFC 8058 one-click.

`/u/<token>` GET shows a confirmation page; POST unsubscribes, then shows
that it did (by a redirect, so a reload asks nothing). A mail
program's one-click POST (body `List-Unsubscribe=One-Click`) unsubscribes
without a page. No login: the token names the client and is signed (HMAC,
with a key derived from SECRET_KEY) together with the client's address, so
it cannot be forged or moved to another client, and it stops working when
the owner changes that client's address: the link in an email to the old
address must not show, nor unsubscribe, whoever has it now. It does not
expire otherwise: links in old emails must keep working, those signed with
an earlier SECRET_KEY too while it is in SECRET_KEY_FALLBACKS (signing.py).
So do the links of emails sent before the address was signed (LEGACY_SALT:
the id alone).

Once unsubscribed, the page offers to subscribe again (`/u/<token>/resubscribe`, a
POST with the page's CSRF token): a click by mistake, or a mail program's one-click,
is undone by the client alone, never by the owner or an import.

`/unsubscribe/preview`, the link in a message's preview, shows that page as
a client would see it and changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from itsdangerous import BadData, BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy import update

from mailer import signing
from mailer.delivery import stopping
from mailer.extensions import csrf, db
from mailer.mail import ascii_domain, mask_email
from mailer.models import Client, utcnow

SALT = "unsubscribe-address"
LEGACY_SALT = "unsubscribe"
ID_LIMIT = 2**31  # client ids are PostgreSQL integers: a larger one is no client

bp = Blueprint("unsubscribe", __name__, template_folder="templates")
log = logging.getLogger(__name__)


def _keys(secret: str) -> dict:
    """The signing key, and the serializer of legacy tokens, for this secret (derived
    once: a token is made for every email sent)."""
    per_secret = current_app.extensions.setdefault("mailer_unsubscribe", {})
    if secret not in per_secret:
        per_secret[secret] = {
            "key": Signer(secret, salt=SALT).derive_key(),
            "legacy": URLSafeSerializer(secret, salt=LEGACY_SALT),
        }
    return per_secret[secret]


def _signature(key: bytes, payload: bytes, email: str) -> bytes:
    return base64_encode(hmac.digest(key, payload + b"\0" + email.encode(), "sha256"))


def preview_url() -> str:
    """The unsubscribe link of a preview and of a test email: the clients' page, changing
    nothing."""
    return f"{current_app.config['BASE_URL']}/unsubscribe/preview"


def token_maker() -> Callable[[int, str], str]:
    """`token(client_id, email)`: the token of a client while its address is `email`
    (the key looked up once, for the sender's every email)."""
    key = _keys(current_app.config["SECRET_KEY"])["key"]

    def token(client_id: int, email: str) -> str:
        payload = base64_encode(str(client_id).encode())
        return (payload + b"." + _signature(key, payload, email)).decode("ascii")

    return token


def unsubscribe_token(client_id: int, email: str) -> str:
    return token_maker()(client_id, email)


def client_for_token(token: str) -> Client | None:
    """The client the token was made for, if its address is still the one signed."""
    client = _signed_client(token)
    return client if client is not None else _legacy_client(token)


def _signed_client(token: str) -> Client | None:
    payload, _, signature = token.encode("ascii", "replace").rpartition(b".")
    try:
        client_id = int(base64_decode(payload))
    except (BadData, ValueError):
        return None
    if not 0 < client_id < ID_LIMIT:
        return None
    client = db.session.get(Client, client_id)
    if client is None:
        return None
    # An internationalised domain kept in its ASCII form (xn--) until migration 4b2c3d5e6f7a
    # wrote it in letters: the links of the emails sent before signed that form.
    signed = {client.email, ascii_domain(client.email)}
    for secret in signing.secret_keys():
        key = _keys(secret)["key"]
        for email in signed:
            if hmac.compare_digest(signature, _signature(key, payload, email)):
                return client
    return None


def _legacy_client(token: str) -> Client | None:
    for secret in signing.secret_keys():
        with suppress(BadSignature):
            client_id = _keys(secret)["legacy"].loads(token)
            return db.session.get(Client, client_id) if isinstance(client_id, int) else None
    return None


def unsubscribe(client: Client) -> bool:
    """Mark the client unsubscribed (for its owner), and cancel what runs under way still
    wait to send them; False when it already was. Flushes; the caller commits."""
    if not _set_unsubscribed(client, utcnow()):
        return False
    stopping.cancel_client(client.id)
    return True


def resubscribe(client: Client) -> bool:
    """The client asked for the sender's emails again: mailings include them from their
    next run, and their page says when they asked. False when they were not unsubscribed."""
    return _set_unsubscribed(client, None, resubscribed_at=utcnow())


def _set_unsubscribed(client: Client, when: datetime | None, **also: datetime) -> bool:
    """Set when the client unsubscribed (None: they did not), and `also`, unless it is so
    already."""
    column = Client.unsubscribed_at
    differs = column.is_(None) if when is not None else column.is_not(None)
    changed = db.session.execute(
        update(Client).where(Client.id == client.id, differs).values(unsubscribed_at=when, **also)
    ).rowcount
    db.session.flush()
    return changed == 1


# What the page says after its button: ?done=...
UNSUBSCRIBED, SUBSCRIBED = "unsubscribed", "subscribed"


def _broken_link():
    return render_template("delivery/unsubscribe.html", client=None, broken=True), 404


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt  # the token is the proof; mail programs POST without a CSRF token (RFC 8058)
def unsubscribe_page(token: str):
    client = client_for_token(token)
    if client is None:
        if request.method == "POST":
            abort(404)
        return _broken_link()
    if request.method == "GET":
        # After the button (Post/Redirect/Get: a reload asks nothing), what the client did,
        # if it still holds; otherwise the page as it stands.
        said = request.args.get("done")
        return render_template(
            "delivery/unsubscribe.html",
            client=client,
            token=token,
            done=said == UNSUBSCRIBED and client.unsubscribed_at is not None,
            resubscribed=said == SUBSCRIBED and client.unsubscribed_at is None,
        )
    unsubscribe(client)
    db.session.commit()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "", 204
    return _done(token, UNSUBSCRIBED)


@bp.route("/u/<token>/resubscribe", methods=["GET", "POST"])
def resubscribe_page(token: str):
    if request.method == "GET":  # the page after the button, reloaded or bookmarked
        return redirect(url_for(".unsubscribe_page", token=token))
    client = client_for_token(token)
    if client is None:
        return _broken_link()
    if resubscribe(client):
        log.info(
            "client %s (%s) subscribed again by their link", client.id, mask_email(client.email)
        )
    db.session.commit()
    return _done(token, SUBSCRIBED)


def _done(token: str, what: str):
    return redirect(url_for(".unsubscribe_page", token=token, done=what), code=303)


@bp.route("/unsubscribe/preview")
def unsubscribe_preview():
    return render_template("delivery/unsubscribe.html", client=None, done=False, preview=True)
