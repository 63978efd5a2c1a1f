"""Reads for the client screens: the list (search, sort, pages) and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask_sqlalchemy.pagination import QueryPagination
from sqlalchemy import func, or_, select

from mailer.extensions import db
from mailer.models import Client, User

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
    """The owner's clients matching `search` (email or name, any case), in `sort` order."""
    query = Client.owned_by(owner)
    search = search.strip()
    if search:
        query = query.filter(
            or_(
                Client.email.contains(search.lower(), autoescape=True),
                Client.full_name.icontains(search, autoescape=True),
            )
        )
    return query.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


class CountedPagination(QueryPagination):
    """A page whose total comes with its rows (`count(*) OVER ()`): one scan, not two.

    For searches, where each scan reads every client of the owner, this halves
    the page's time. Past the last page no row carries the total, so it is
    counted the usual way.
    """

    _total: int | None = None

    def _query_items(self) -> list:
        query = self._query_args["query"].add_columns(func.count().over())
        rows = query.limit(self.per_page).offset(self._query_offset).all()
        self._total = rows[0][1] if rows else None
        return [row[0] for row in rows]

    def _query_count(self) -> int:
        return self._total if self._total is not None else super()._query_count()


def client_page(owner: User, *, search: str, sort: str, page: int):
    """One page of the owner's clients (PER_PAGE), in a fixed number of queries."""
    query = clients_query(owner, search=search, sort=sort)
    if search:
        return CountedPagination(query=query, page=page, per_page=PER_PAGE, error_out=False)
    # Without a search the count is an index-only scan; a window would read every row.
    return query.paginate(page=page, per_page=PER_PAGE, error_out=False)


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
