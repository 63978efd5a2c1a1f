"""Pages of lists that may be a million rows long, counted only up to a limit.

Counting a million rows takes longer than a whole page may (100 ms), and so
does skipping half a million to reach a deep page. These lists count at most
COUNT_LIMIT rows (a few milliseconds), page through those, and say "10000+"
beyond: the owner narrows such a list with a search, a filter or the other
sort order. A page number past the counted ones shows the last of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import abort, request
from flask_sqlalchemy.pagination import Pagination, QueryPagination
from sqlalchemy import func, select

from mailer.extensions import db

COUNT_LIMIT = 10_000
MAX_PAGE = 1_000_000  # past any list's end, and its OFFSET within PostgreSQL's bigint


def page_number(args: Mapping[str, str] | None = None) -> int:
    """The `page` argument of the query string (or of `args`): 1 unless a positive number,
    at most MAX_PAGE, so no number typed into the address bar reaches the database raw."""
    try:
        number = int((request.args if args is None else args).get("page", 1))
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def list_args(*names: str) -> dict[str, str]:
    """Those of a list's query arguments (search, sort, page...) that are set, to carry
    through an action on one of its rows and back to the list as it was."""
    return {name: request.args[name] for name in names if request.args.get(name)}


def page_or_404(page: Pagination) -> Pagination:
    """A page past the last is a 404 on every list; only page 1 shows a list's empty state
    ("No clients yet"), which a page past the end would wrongly claim."""
    if page.page > 1 and not page.items:
        abort(404)
    return page


class CappedPagination(QueryPagination):
    """`total` is the number of rows, or COUNT_LIMIT when there are more (`capped`).

    `count_query`, when given, is counted instead of `query`: the same rows
    without the joins that only load what the page shows.
    """

    capped: bool = False

    def __init__(self, **kwargs):
        self.limit = COUNT_LIMIT
        super().__init__(**kwargs)

    def _prepare_page_args(self, **kwargs) -> tuple[int, int]:
        page, per_page = super()._prepare_page_args(**kwargs)
        last_counted = max(1, -(-self.limit // per_page))
        return min(page, last_counted), per_page

    def _query_count(self) -> int:
        query = self._query_args.get("count_query")
        if query is None:
            query = self._query_args["query"]
        query = query.enable_eagerloads(False).order_by(None)
        rows = query.limit(self.limit + 1).subquery()
        counted = db.session.scalar(select(func.count()).select_from(rows)) or 0
        self.capped = counted > self.limit
        return min(counted, self.limit)
