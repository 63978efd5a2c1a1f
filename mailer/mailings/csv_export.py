"""CSV downloads of the logs and the report: UTF-8 with a BOM, separated as the viewer's
language's spreadsheets expect, streamed row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, stream_with_context

from mailer.i18n import csv_delimiter, select_timezone


def stamped(name: str) -> str:
    """A download's file name: `name` and the moment, in the viewer's time zone (as the
    times in the file), e.g. "report-20261207-1717.csv"."""
    return f"{name}-{datetime.now(ZoneInfo(select_timezone())):%Y%m%d-%H%M}.csv"


def csv_response(rows: Iterable[list], filename: str) -> Response:
    return Response(
        stream_with_context(_csv_lines(rows)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_lines(rows: Iterable[list]) -> Iterator[str]:
    yield "\ufeff"  # the BOM: Excel then reads the file as UTF-8 (Cyrillic names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=csv_delimiter())
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _safe_cell(value):
    """Outside text (a server's reply, a name someone typed): keep spreadsheets from
    running it as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
