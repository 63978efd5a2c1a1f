"""Writes on clients: create, edit, delete (one or many). Services flush; the caller commits."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.exc import IntegrityError

from mailer.delivery import stopping
from mailer.extensions import db
from mailer.i18n import ngettext
from mailer.mailings.mailing_queries import mailing_ids_of, owned_mailing_ids
from mailer.models import Client, Mailing, User, link_clients, mailing_clients, normalize_email

log = logging.getLogger(__name__)

EMAIL_MAX = 254
LOCAL_MAX = 64  # before the @ (RFC 5321): many servers refuse a longer one
FULL_NAME_MAX = 200
COMMENT_MAX = 2000

# The common shape of a local part (RFC 5322 dot-atom, ASCII): email-validator
# accepts every such one, so only the domain needs its full check (cached).
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_SIMPLE_LOCAL = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*")


class ClientError(Exception):
    """A client cannot be saved; `field` names the form field to show it on."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ClientData:
    email: str
    full_name: str = ""
    comment: str = ""
    # The owner's mailings ticked to send to the client; None: a new client joins those
    # that take new clients (as an import's do), an edited one stays in the ones it was in.
    mailing_ids: frozenset[int] | None = None
    # The mailings the form offered to tick: an edited client leaves those of them left
    # unticked, and stays in the others (an owner may have more than a form can show).
    offered_mailing_ids: frozenset[int] = frozenset()


# email-validator answers in English: its answers, in the user's language (those not
# listed, rare, as a plain "not valid" in any other language: `_localised`).
_EMAIL_PROBLEMS = {
    "An email address must have an @-sign.": _l("An email address must have an @-sign."),
    "There must be something before the @-sign.": _l("There must be something before the @-sign."),
    "There must be something after the @-sign.": _l("There must be something after the @-sign."),
    "The part after the @-sign is not valid. It should have a period.": _l(
        "The part after the @-sign is not valid. It should have a period."
    ),
    "The part after the @-sign is not valid. It is not within a valid top-level domain.": _l(
        "The part after the @-sign is not valid. It is not within a valid top-level domain."
    ),
    "The part after the @-sign is a special-use or reserved name that cannot be used with email.": (
        _l("The part after the @-sign is a reserved name that cannot be used with email.")
    ),
    "An email address cannot have two periods in a row.": _l(
        "An email address cannot have two periods in a row."
    ),
    "An email address cannot start with a period.": _l(
        "An email address cannot start with a period."
    ),
    "An email address cannot end with a period.": _l("An email address cannot end with a period."),
    "An email address cannot have a period immediately before the @-sign.": _l(
        "An email address cannot have a period immediately before the @-sign."
    ),
    "An email address cannot have a hyphen immediately after the @-sign.": _l(
        "An email address cannot have a hyphen immediately after the @-sign."
    ),
    "There can't be anything after the email address.": _l(
        "There can't be anything after the email address."
    ),
    "An email address cannot end with a hyphen.": _l("An email address cannot end with a hyphen."),
    "An email address cannot have a period and a hyphen next to each other.": _l(
        "An email address cannot have a period and a hyphen next to each other."
    ),
    "A bracketed IP address after the @-sign is not allowed here.": _l(
        "An IP address in brackets after the @ cannot be used: write a domain name."
    ),
    "Quoting the part before the @-sign is not allowed here.": _l(
        "The part before the @ cannot be in quotes."
    ),
    "An email address cannot have two letters followed by two dashes immediately after the"
    " @-sign or after a period, except Punycode.": _l(
        "After the @, a part cannot start with two letters and two hyphens (as “ab--”)."
    ),
    'The email address has the "small commercial at" character instead of a regular at-sign.': (
        _l("The address has another kind of at-sign instead of the usual @.")
    ),
    'The email address has the "full-width" at-sign (@) character instead of a regular at-sign.': (
        _l("The address has another kind of at-sign instead of the usual @.")
    ),
    "The email address is not valid ASCII.": _l("The address has characters that cannot be used."),
}
# The invisible characters people type into an address, as email-validator names them.
_CHARACTER_NAMES = {
    "SPACE": _l("a space"),
    "NO-BREAK SPACE": _l("a non-breaking space"),
    "U+0009": _l("a tab"),  # a control character has no name
}
_EMAIL_PROBLEM_PREFIXES = (
    (
        "The email address contains invalid characters before the @-sign: ",
        _l("The email address contains invalid characters before the @-sign: %(chars)s"),
    ),
    (
        "The part after the @-sign contains invalid characters: ",
        _l("The part after the @-sign contains invalid characters: %(chars)s"),
    ),
    (  # a zero-width space, say, pasted in with the address
        "The email address contains unsafe characters: ",
        _l("The email address contains characters that cannot be used: %(chars)s"),
    ),
    (  # "Ольга Петрова <olga@…>" where the name cannot be told from the address
        "The display name contains invalid characters when not quoted: ",
        _l("Write the address alone, without a name before it."),
    ),
    (
        "The part after the @-sign is not valid IDNA",
        _l("The part after the @ is not a valid international domain name."),
    ),
    (
        "After the @-sign, periods cannot be separated by so many characters",
        _l("After the @, a part between periods is too long (at most 63 characters)."),
    ),
    ("The email address is too long after the @-sign", _l("The part after the @ is too long.")),
    (
        "Internationalized characters before the @-sign are not supported",
        _l("Letters other than Latin cannot be used before the @ here."),
    ),
)


def email_error(email: str) -> str | None:
    """Why `email` is not a usable address (email-validator, no DNS), or None."""
    if len(email) > EMAIL_MAX:
        return ngettext(
            "too long (at most %(num)s character)",
            "too long (at most %(num)s characters)",
            EMAIL_MAX,
        )
    local, at, domain = email.rpartition("@")
    if at and len(local) > LOCAL_MAX:  # email-validator checks it only when strict
        return ngettext(
            "too long before the @ (at most %(num)s character)",
            "too long before the @ (at most %(num)s characters)",
            LOCAL_MAX,
        )
    if at and _simple_local(local):
        return _localised(_domain_error(domain))
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return _localised(str(error))
    return None


def _localised(problem: str | None) -> str | None:
    if problem is None:
        return None
    if problem in _EMAIL_PROBLEMS:
        return str(_EMAIL_PROBLEMS[problem])
    for prefix, translated in _EMAIL_PROBLEM_PREFIXES:
        if problem.startswith(prefix):
            return str(translated) % {"chars": _characters(problem.removeprefix(prefix))}
    if str(get_locale()) == "en":
        return problem
    log.info("email-validator's answer not translated: %s", problem)
    return _("This address is not valid.")


def _characters(listed: str) -> str:
    """email-validator's list of characters ("SPACE, ','.") as the viewer reads them: a
    character that shows as itself in quotes (“,”), a space or a tab by its name in their
    language, any other by its code point (U+200B) rather than its English Unicode name."""
    shown = []
    for item in listed.removesuffix(".").split(", "):
        if len(item) == 3 and item[0] == item[-1] and item[0] in "'\"":  # Python's repr
            shown.append(_("“%(name)s”", name=item[1]))
        elif item in _CHARACTER_NAMES:
            shown.append(str(_CHARACTER_NAMES[item]))
        else:
            try:
                shown.append(f"U+{ord(unicodedata.lookup(item)):04X}")
            except KeyError:  # a character without a name: U+… already
                shown.append(item)
    return ", ".join(shown) + "."


def _simple_local(local: str) -> bool:
    return _SIMPLE_LOCAL.fullmatch(local) is not None


@lru_cache(maxsize=4096)
def _domain_error(domain: str) -> str | None:
    # Imports repeat a few domains (gmail.com, mail.ru) thousands of times.
    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def _check_unique(owner: User, email: str, client_id: int | None = None) -> None:
    query = select(Client.id).where(Client.owner_id == owner.id, Client.email == email)
    if client_id is not None:
        query = query.where(Client.id != client_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise ClientError("email", _("You already have a client with this email."))


def _flush_unique() -> None:
    """Flush; a concurrent insert of the same email is answered like the check above."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ClientError("email", _("You already have a client with this email.")) from None


def create_client(*, owner: User, data: ClientData) -> Client:
    email = normalize_email(data.email)
    _check_unique(owner, email)
    client = Client(owner_id=owner.id, email=email, full_name=data.full_name, comment=data.comment)
    db.session.add(client)
    _flush_unique()
    join_mailings(owner, Client.id == client.id, data.mailing_ids)
    return client


def join_mailings(
    owner: User, new_clients: ColumnElement[bool], mailing_ids: Collection[int] | None = None
) -> None:
    """Add the owner's clients that `new_clients` (a condition on Client) picks out to those
    of `mailing_ids` that are the owner's mailings; None: to each of their mailings that
    takes new clients. A send already in progress goes on without them; the mailing's next
    send reaches them.

    A condition, not a list of ids: right after a big import PostgreSQL's statistics
    still say the owner has a few clients, and it joined such a list to their clients
    row by row (100,000 x 100,000)."""
    if mailing_ids is None:
        chosen = Mailing.takes_new_clients.is_(True)
    elif mailing_ids:
        chosen = Mailing.id.in_(set(mailing_ids))
    else:
        return
    pairs = (
        select(Mailing.id, Client.id)
        .join(Client, Client.owner_id == Mailing.owner_id)
        .where(Mailing.owner_id == owner.id, chosen, new_clients)
    )
    db.session.execute(link_clients().from_select(["mailing_id", "client_id"], pairs))


def update_client(*, client: Client, data: ClientData) -> Client:
    email = normalize_email(data.email)
    _check_unique(client.owner, email, client_id=client.id)
    if email != client.email:
        # Bounces are the old address's: mailings send to a corrected one.
        client.bounced_at = None
        client.hard_bounces = 0
    client.email = email
    client.full_name = data.full_name
    client.comment = data.comment
    _flush_unique()
    if data.mailing_ids is not None:
        _set_mailings(client, data.mailing_ids, offered=data.offered_mailing_ids)
    return client


def _set_mailings(client: Client, mailing_ids: frozenset[int], *, offered: frozenset[int]) -> None:
    """Put the client in those of `mailing_ids` that are its owner's mailings, and take it
    out of the other `offered` ones. A send in progress goes on without it in a mailing it
    joins, and skips it in one it leaves, apart from an email already on its way."""
    wanted = owned_mailing_ids(client.owner, mailing_ids)
    current = mailing_ids_of(client)
    if joined := wanted - current:
        db.session.execute(
            link_clients(),
            [{"mailing_id": mailing_id, "client_id": client.id} for mailing_id in sorted(joined)],
        )
    if left := (current & offered) - wanted:
        db.session.execute(
            delete(mailing_clients).where(
                mailing_clients.c.client_id == client.id, mailing_clients.c.mailing_id.in_(left)
            )
        )
        stopping.cancel_client(client.id, left)


def delete_clients(*, owner: User, ids: list[int]) -> int:
    """Delete those of `ids` that are `owner`'s clients, as `delete_client` does, in one
    statement; returns how many went."""
    owned = and_(Client.owner_id == owner.id, Client.id.in_(set(ids)))
    with stopping.finishing_runs_of(select(Client.id).where(owned)):
        return db.session.execute(
            delete(Client).where(owned).execution_options(synchronize_session=False)
        ).rowcount


def delete_client(*, client: Client) -> None:
    """Delete a client. The foreign keys' ON DELETE rules take them out of every mailing
    and of any run still waiting to send to them, which then finishes without them; the
    attempts log keeps the emails they were sent, without the client."""
    with stopping.finishing_runs_of([client.id]):
        db.session.delete(client)
        db.session.flush()
