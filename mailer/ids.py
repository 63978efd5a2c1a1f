"""Ids from URLs, query strings and forms: what no row's id could be is no row (a 404, an
empty filter, a form's error), never a database error; SQLite cannot even compare a
number beyond 2**63 with a column.

`IdConverter` is the app's `<int:…>`; `an_id` is the `type=` (or WTForms `coerce=`) of
an id read from a request.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

ID_MAX = 2**31 - 1  # ids are INTEGER columns


def is_id(text: str) -> bool:
    """Whether `text` could be a row's id: ASCII digits (not "²"), at most ID_MAX."""
    return text.isascii() and text.isdigit() and int(text) <= ID_MAX


def an_id(text: str | int) -> int:
    """`text` as an id; ValueError ("not an id") for anything else: "²", "-1", "1e3", a
    number beyond ID_MAX. `request.args.get(name, type=an_id)` gives None for those."""
    text = str(text) if isinstance(text, int) and not isinstance(text, bool) else text
    if not (isinstance(text, str) and is_id(text)):
        raise ValueError("not an id")
    return int(text)


class IdConverter(IntegerConverter):
    """`<int:…>` in a route: a number beyond ID_MAX matches no route (404)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - Werkzeug's name
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)
