"""Reads for the client screens: the list (search, sort, pages) and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import ClauseAdapter

from mailer.extensions import db
from mailer.i18n import csv_delimiter
from mailer.mailings.pagination import CappedPagination
from mailer.models import Client, User, clients_of
from mailer.models.mailings import CLIENT_SEARCH_SEPARATOR, client_search_text

PER_PAGE = 50
# Sort keys offered in the list; each ends with the id so pages never overlap.
# Written as expressions (.asc()) so that a search page can re-aim them at a subquery.
SORTS = {
    "email": (Client.email.asc(),),
    "-email": (Client.email.desc(),),
    "name": (Client.full_name.asc(), Client.id.asc()),
    "-name": (Client.full_name.desc(), Client.id.desc()),
    "created": (Client.created_at.asc(), Client.id.asc()),
    "-created": (Client.created_at.desc(), Client.id.desc()),
}
DEFAULT_SORT = "email"
# The list's filter by state: whether mailings write to the client.
STATES = {
    "receiving": Client.can_receive,
    "unsubscribed": Client.unsubscribed_at.is_not(None),
    "bounced": Client.bounced_at.is_not(None),
}
# A search with more matches than the list counts first looks for its page among
# this many times the rows the page needs, in sort order (see SearchPagination).
PROBE_FACTOR = 20
PROBE_MAX_ROWS = 20_000
EXPORT_COLUMNS = ("email", "full_name", "comment", "created_at", "unsubscribed_at", "bounced_at")
EXPORT_BATCH = 2000
# A cell Excel would run as a formula starts with = + - @ (or a tab or CR), maybe
# after apostrophes the text itself has. The export adds one more ' to such a
# cell, and the import takes exactly one off again, so every cell round-trips.
FORMULA_CELL = re.compile(r"'*[=+\-@\t\r]")
PROTECTED_CELL = re.compile(r"'+[=+\-@\t\r]")


def clients_query(
    owner: User,
    *,
    search: str = "",
    sort: str = DEFAULT_SORT,
    state: str = "",
    mailing_id: int | None = None,
):
    """The owner's clients matching `search` (email or name, any case) in `state` (one of
    STATES; any other: all) and, given `mailing_id` (one of the owner's mailings: the
    caller checks), among that mailing's clients, in `sort` order.

    On PostgreSQL the search is answered by the trigram index on
    `client_search_text` (ix_clients_search), so it is written against exactly
    that expression, with the pattern lower-cased by the database like the name.
    """
    query = Client.owned_by(owner)
    search = _plain(search)
    if search:
        query = query.filter(search_condition(search))
    query = query.filter(*_filters(state, mailing_id))
    return query.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


def _filters(state: str, mailing_id: int | None) -> list:
    """The list's filters besides the search: by state, and to one mailing's clients."""
    filters = [STATES[state]] if state in STATES else []
    if mailing_id is not None:
        filters.append(Client.id.in_(clients_of(mailing_id)))
    return filters


def _plain(search: str) -> str:
    return search.replace(CLIENT_SEARCH_SEPARATOR, "").strip()


def search_condition(search: str):
    """Name or email contains `search`, any case; % and _ are plain characters."""
    escaped = search.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return client_search_text.like(func.lower(f"%{escaped}%"), escape="/")


def client_page(
    owner: User,
    *,
    search: str,
    sort: str,
    page: int,
    state: str = "",
    mailing_id: int | None = None,
) -> CappedPagination:
    """One page of the owner's clients (PER_PAGE) in a fixed number of queries.

    The total is counted up to COUNT_LIMIT (see pagination.py): with a million
    clients an exact count alone would take longer than the whole page may.
    """
    query = clients_query(owner, search=search, sort=sort, state=state, mailing_id=mailing_id)
    if not _plain(search):
        return CappedPagination(query=query, page=page, per_page=PER_PAGE, error_out=False)
    return SearchPagination(
        query=query,
        owner=owner,
        search=_plain(search),
        filters=_filters(state, mailing_id),
        sort=SORTS.get(sort, SORTS[DEFAULT_SORT]),
        page=page,
        per_page=PER_PAGE,
        error_out=False,
    )


class SearchPagination(CappedPagination):
    """A search's page, found without reading the list up to where its matches sort.

    Left to itself, PostgreSQL reads a search sorted by name (or date) along that
    sort's index and filters, expecting the matches spread evenly. When they all
    sort late (the 125,000 "Анна" after 500,000 Latin names) it reads and drops
    half the list. So the matches are counted first (up to COUNT_LIMIT, as every
    list does). Up to that many, the page is sorted out of all of them, found by
    the trigram index. Beyond it, the page is looked for among the first rows in
    sort order, and only when they do not hold it are all the matches sorted:
    that costs the number of matches, not how far down the list they start.
    """

    def _query_items(self) -> list[Client]:
        self._counted = super()._query_count()
        if self.capped:
            page = self._probe()
            if len(page) == self.per_page:  # more matches than COUNT_LIMIT: pages are full
                return page
        return self._sorted_matches()

    def _query_count(self) -> int:
        return self._counted

    def _probe(self) -> list[Client]:
        """The page if it lies within the first rows of the whole list in sort order."""
        args = self._query_args
        reach = min(PROBE_FACTOR * (self._query_offset + self.per_page), PROBE_MAX_ROWS)
        first_rows = Client.owned_by(args["owner"]).order_by(*args["sort"]).limit(reach).subquery()
        return self._page_of(first_rows, search_condition(args["search"]), *args["filters"])

    def _sorted_matches(self) -> list[Client]:
        """The page sorted out of all the matches.

        OFFSET 0 keeps PostgreSQL from merging the subquery into the sorted
        query, so it fetches the matches by the trigram index instead of reading
        the list in sort order looking for them.
        """
        matches = self._query_args["query"].order_by(None).offset(0).subquery()
        return self._page_of(matches)

    def _page_of(self, rows, *conditions) -> list[Client]:
        adapt = ClauseAdapter(rows).traverse
        return (
            db.session.query(aliased(Client, rows))
            .filter(*map(adapt, conditions))
            .order_by(*map(adapt, self._query_args["sort"]))
            .offset(self._query_offset)
            .limit(self.per_page)
            .all()
        )


def export_rows(owner: User, tz: str) -> Iterator[str]:
    """The owner's clients as CSV text, a batch of rows at a time (UTF-8 BOM first, for Excel),
    times in the zone `tz` (the viewer's, as the list shows them; with its offset, which
    the import reads back)."""
    zone = ZoneInfo(tz)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=csv_delimiter())
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
            writer.writerow(_cell(value, zone) for value in row)
        yield _drain(buffer)


def _cell(value, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    return protect_formula(str(value))


def protect_formula(text: str) -> str:
    """Excel runs a cell starting with = + - @ as a formula; a leading ' keeps it text.

    `unprotect_formula(protect_formula(text)) == text` for every text: `=x` is
    written `'=x`, `'=x` is written `''=x`, and `'hello` stays as it is.
    """
    return "'" + text if FORMULA_CELL.match(text) else text


def unprotect_formula(text: str) -> str:
    """A cell as it was before `protect_formula`: one ' fewer before = + - @."""
    return text[1:] if PROTECTED_CELL.match(text) else text


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
