"""Reads for the client screens: the list (search, sort, pages) and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.mailings.pagination import CappedPagination
from mailer.models import Client, User
from mailer.models.mailings import CLIENT_SEARCH_SEPARATOR, client_search_text

PER_PAGE = 50
# Sort keys offered in the list; each ends with the id so pages never overlap.
SORTS = {
    "email": (Client.email,),
    "-email": (Client.email.desc(),),
    "name": (Client.full_name, Client.id),
    "-name": (Client.full_name.desc(), Client.id.desc()),
    "created": (Client.created_at, Client.id),
    "-created": (Client.created_at.desc(), Client.id.desc()),
}
DEFAULT_SORT = "email"
EXPORT_COLUMNS = ("email", "full_name", "comment", "created_at", "unsubscribed_at", "bounced_at")
EXPORT_BATCH = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clients_query(owner: User, *, search: str = "", sort: str = DEFAULT_SORT):
    """The owner's clients matching `search` (email or name, any case), in `sort` order.

    On PostgreSQL the search is answered by the trigram index on
    `client_search_text` (ix_clients_search), so it is written against exactly
    that expression, with the pattern lower-cased by the database like the name.
    """
    query = Client.owned_by(owner)
    search = search.replace(CLIENT_SEARCH_SEPARATOR, "").strip()
    if search:
        query = query.filter(search_condition(search))
    return query.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


def search_condition(search: str):
    """Name or email contains `search`, any case; % and _ are plain characters."""
    escaped = search.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return client_search_text.like(func.lower(f"%{escaped}%"), escape="/")


def client_page(owner: User, *, search: str, sort: str, page: int) -> CappedPagination:
    """One page of the owner's clients (PER_PAGE) in a fixed number of queries.

    The total is counted up to COUNT_LIMIT (see pagination.py): with a million
    clients an exact count alone would take longer than the whole page may.
    """
    query = clients_query(owner, search=search, sort=sort)
    return CappedPagination(query=query, page=page, per_page=PER_PAGE, error_out=False)


def export_rows(owner: User) -> Iterator[str]:
    """The owner's clients as CSV text, a batch of rows at a time (UTF-8 BOM first, for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield "\ufeff" + _drain(buffer)
    columns = [getattr(Client, name) for name in EXPORT_COLUMNS]
    result = db.session.execute(
        select(*columns)
        .where(Client.owner_id == owner.id)
        .order_by(Client.email)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    for batch in result.partitions():
        for row in batch:
            writer.writerow(_cell(value) for value in row)
        yield _drain(buffer)


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    return protect_formula(str(value))


def protect_formula(text: str) -> str:
    """Excel runs a cell starting with = + - @ as a formula; a leading ' keeps it text.

    The import strips that quote again (`unprotect_formula`), so export -> import round-trips.
    """
    return "'" + text if text[:1] in FORMULA_STARTS else text


def unprotect_formula(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS and text[1:2] else text


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
