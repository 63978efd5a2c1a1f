"""Unsubscribe links: a signed token per client, a confirmation page, RFC 8058 one-click.

`/u/<token>` GET shows a confirmation page; POST unsubscribes. A mail
program's one-click POST (body `List-Unsubscribe=One-Click`) unsubscribes
without a page. No login: the token, signed with SECRET_KEY and the salt
"unsubscribe", names the client, so it cannot be forged or moved to another
client. It does not expire: links in old emails must keep working.

`/unsubscribe/preview`, the link in a message's preview, shows that page as
a client would see it and changes nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import Blueprint, abort, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import update

from mailer.extensions import csrf, db
from mailer.models import Client, utcnow

SALT = "unsubscribe"
# The serializer zlib-compresses a payload when that makes it shorter, which
# never happens below ten digits: the fast path stays below them.
_COMPRESSIBLE = 10**9

bp = Blueprint("unsubscribe", __name__, template_folder="templates")


def _serializer() -> URLSafeSerializer:
    serializers = current_app.extensions.setdefault("mailer_unsubscribe", {})
    key = current_app.config["SECRET_KEY"]
    if key not in serializers:
        serializers[key] = URLSafeSerializer(key, salt=SALT)
    return serializers[key]


def unsubscribe_token(client_id: int) -> str:
    return _serializer().dumps(client_id)


def token_maker() -> Callable[[int], str]:
    """`unsubscribe_token` for a whole batch: the same tokens, several times faster.

    The serializer encodes and signs anew for each call; here the signing key
    is derived once and each token is one HMAC. Checked against the
    serializer on a sample, so a different itsdangerous falls back to it.
    """
    signer = _serializer().make_signer()
    key, separator = signer.derive_key(), signer.sep

    def token(client_id: int) -> str:
        if client_id >= _COMPRESSIBLE:
            return unsubscribe_token(client_id)
        payload = base64_encode(str(client_id).encode())
        signature = base64_encode(hmac.digest(key, payload, "sha1"))
        return (payload + separator + signature).decode("ascii")

    sample = 1234567
    return token if token(sample) == unsubscribe_token(sample) else unsubscribe_token


def unsubscribe_url(client_id: int) -> str:
    return f"{current_app.config['BASE_URL']}/u/{unsubscribe_token(client_id)}"


def client_for_token(token: str) -> Client | None:
    try:
        client_id = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(client_id, int):
        return None
    return db.session.get(Client, client_id)


def unsubscribe(client: Client) -> bool:
    """Mark the client unsubscribed (for its owner); False when it already was."""
    changed = db.session.execute(
        update(Client)
        .where(Client.id == client.id, Client.unsubscribed_at.is_(None))
        .values(unsubscribed_at=utcnow())
    ).rowcount
    db.session.flush()
    return changed == 1


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt  # the token is the proof; mail programs POST without a CSRF token (RFC 8058)
def unsubscribe_page(token: str):
    client = client_for_token(token)
    if client is None:
        if request.method == "POST":
            abort(404)
        return render_template("delivery/unsubscribe.html", client=None, broken=True), 404
    if request.method == "GET":
        return render_template("delivery/unsubscribe.html", client=client, done=False)
    unsubscribe(client)
    db.session.commit()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return "", 204
    return render_template("delivery/unsubscribe.html", client=client, done=True)


@bp.route("/unsubscribe/preview")
def unsubscribe_preview():
    return render_template("delivery/unsubscribe.html", client=None, done=False, preview=True)
