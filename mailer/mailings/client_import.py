"""CSV import of clients: read the file, validate every row in Python, insert in chunks.

The file is parsed twice: once for the preview (nothing written) and once
on confirmation. Rows are validated here (email-validator, lengths, dates,
duplicates in the file); each chunk then goes in as one set-based INSERT
that skips the emails the owner already has and returns those it inserted,
so the others are reported as already there (a concurrent import of the
same email included, never an error).

A file may say when a client unsubscribed or bounced (the export's
unsubscribed_at and bounced_at columns). A new client gets those dates; a
client the owner already has, or a repeated line of the file, is marked by
one set-based UPDATE per chunk that only fills dates still empty: an
opt-out is never cleared, nor lost.
"""

from __future__ import annotations

import contextlib
import csv
import io
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import (
    Integer,
    String,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.types import TIMESTAMP

from mailer.extensions import db
from mailer.mailings.client_queries import unprotect_formula
from mailer.mailings.client_services import COMMENT_MAX, FULL_NAME_MAX, email_error
from mailer.models import Client, User, normalize_email, utcnow
from mailer.models.types import UTCDateTime

DELIMITERS = (",", ";", "\t")
CHUNK = 5000
PREVIEW_ROWS = 20
ANALYZE_AFTER_ROWS = 10_000
IMPORT_COLUMNS = [
    "owner_id",
    "email",
    "full_name",
    "comment",
    "unsubscribed_at",
    "bounced_at",
    "hard_bounces",
    "created_at",
]
# The columns that say a client opted out, as the export names them; empty = not.
OPT_OUT_COLUMNS = ("unsubscribed_at", "bounced_at")
SNIFF_LINES = 50
SNIFF_CHARS = 64 * 1024
# Header cells we recognise (lower-cased), in English and Russian.
HEADER_NAMES = {
    "email": {"email", "e-mail", "mail", "адрес", "почта", "эл. почта", "электронная почта"},
    "full_name": {"full_name", "full name", "name", "имя", "фио", "ф.и.о.", "клиент"},
    "comment": {"comment", "comments", "note", "комментарий", "примечание"},
    "unsubscribed_at": {
        "unsubscribed_at",
        "unsubscribed at",
        "unsubscribed",
        "отписался",
        "отписан",
        "отписка",
        "дата отписки",
    },
    "bounced_at": {"bounced_at", "bounced at", "bounced", "письма не доходят", "недоставка"},
}
# Day first, as Excel on a Russian Windows writes a date it recognised in the export.
DOTTED_DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S")
SHOWN_CELL_MAX = 40


class Row(NamedTuple):  # a tuple: a million of them are built quickly
    """A line of the file as written (the dates too, as text)."""

    line: int
    email: str
    full_name: str
    comment: str
    unsubscribed_at: str = ""
    bounced_at: str = ""


class Checked(NamedTuple):
    """A row that passed every check: email normalised, dates read (None: not set)."""

    line: int
    email: str
    full_name: str
    comment: str
    unsubscribed_at: datetime | None
    bounced_at: datetime | None
    # A later line of an email the file already had: it only adds its dates.
    repeated: bool = False

    @property
    def opted_out(self) -> bool:
        return self.unsubscribed_at is not None or self.bounced_at is not None


class Rejected(NamedTuple):
    line: int
    email: str
    reason: str


@dataclass
class ParsedFile:
    encoding: str
    delimiter: str
    header: list[str] | None
    rows: list[Row]

    @property
    def opt_out_columns(self) -> bool:
        """Whether the header names an unsubscribed or a bounced column."""
        positions = _columns(self.header)
        return any(positions[name] >= 0 for name in OPT_OUT_COLUMNS)

    @property
    def unsubscribed(self) -> int:
        """Rows that say the client unsubscribed (a date or not: the check comes later)."""
        return sum(1 for row in self.rows if row.unsubscribed_at)

    @property
    def bounced(self) -> int:
        return sum(1 for row in self.rows if row.bounced_at)


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Of the clients imported, those the file says unsubscribed or bounced.
    unsubscribed: int = 0
    bounced: int = 0
    # Clients already there (or imported from an earlier line) that a line
    # not imported marked unsubscribed or bounced.
    marked: int = 0

    @property
    def total(self) -> int:
        return self.imported + len(self.rejected)


# --- reading the file ----------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding's name: UTF-8 (with or without BOM) if it is valid, else cp1251."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "UTF-8 (BOM)"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        # Excel's "CSV" on a Russian Windows; 0x98 is its one undefined byte.
        return data.decode("cp1251", errors="replace"), "Windows-1251"


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits most lines into the same number (>1) of fields."""
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter))
        width, rows = max(counts.items(), key=lambda item: (item[1], item[0]), default=(0, 0))
        score = (rows, width) if width > 1 else (0, 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _columns(header: list[str] | None) -> dict[str, int]:
    """Positions of the columns by header names, else email, full name and comment first.

    A header naming some columns leaves the unnamed ones empty (-1) rather than
    guessing; the dates are read only from columns a header names.
    """
    positions = {"email": 0, "full_name": 1, "comment": 2, "unsubscribed_at": -1, "bounced_at": -1}
    cells = [cell.strip().lower() for cell in header or []]
    found = {
        name: cells.index(word)
        for name, words in HEADER_NAMES.items()
        for word in words
        if word in cells
    }
    if found:
        positions = {name: found.get(name, -1) for name in positions}
        if positions["email"] == -1:
            positions["email"] = 0
    return positions


def _is_header(cells: list[str]) -> bool:
    # A data row always has an address in it; a header never does.
    return bool(cells) and not any("@" in cell for cell in cells)


class UnreadableFile(ValueError):
    """The upload is not a CSV file the import can read; the message says why."""


def parse(data: bytes) -> ParsedFile:
    """The file's rows, or UnreadableFile (binary data, a cell past the csv module's limit)."""
    text, encoding = decode(data)
    if "\x00" in text:
        raise UnreadableFile(_("This is not a CSV file: it holds binary data."))
    reading = _Reading(text)
    try:
        rows = list(reading)
    except csv.Error as error:  # e.g. "field larger than field limit (131072)"
        raise UnreadableFile(
            _("line %(line)s cannot be read: %(reason)s", line=reading.line + 1, reason=error)
        ) from None
    return ParsedFile(
        encoding=encoding, delimiter=reading.delimiter, header=reading.header, rows=rows
    )


def read_rows(data: bytes) -> Iterator[Row]:
    """The rows parse() would give, read one by one as the import takes them."""
    return iter(_Reading(decode(data)[0]))


class _Reading:
    """The rows of a decoded file; `header` is known once the first line was read."""

    def __init__(self, text: str):
        self.text = text
        sample = [line for line in text[:SNIFF_CHARS].splitlines()[:SNIFF_LINES] if line.strip()]
        self.delimiter = sniff_delimiter(sample)
        self.header: list[str] | None = None
        self.line = 0  # the last line read; a record that cannot be read starts after it

    def __iter__(self) -> Iterator[Row]:
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        at = _columns(None)
        first = True
        for cells in reader:
            self.line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if first:
                first = False
                if _is_header(cells):
                    self.header = cells
                    at = _columns(cells)
                    continue
            yield Row(
                line=reader.line_num,
                email=_cell(cells, at["email"]),
                full_name=unprotect_formula(_cell(cells, at["full_name"])),
                comment=unprotect_formula(_cell(cells, at["comment"])),
                unsubscribed_at=_cell(cells, at["unsubscribed_at"]),
                bounced_at=_cell(cells, at["bounced_at"]),
            )


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if 0 <= index < len(cells) else ""


def read_date(text: str) -> datetime | None:
    """The moment a date cell holds, in UTC; None when it is empty; ValueError when unreadable.

    Read as the export writes it (ISO 8601: 2024-05-31T14:30:00+00:00, a
    date alone, a space for the T, Z) or as Excel saves a date it recognised
    on a Russian Windows (31.05.2024 14:30). Without an offset it is UTC,
    like every time the export writes.
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _dotted_date(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ValueError(text) from None


def _dotted_date(text: str) -> datetime:
    for layout in DOTTED_DATE_FORMATS:
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, layout)  # noqa: DTZ007 - UTC is attached above
    raise ValueError(text)


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CELL_MAX else text[: SHOWN_CELL_MAX - 1] + "…"


# --- validating and importing --------------------------------------------------------------


def row_error(row: Row) -> str | None:
    """Why a row cannot become a client, by itself (no database), or None."""
    if not row.email:
        return _("invalid email: empty")
    problem = email_error(row.email)
    if problem:
        return _("invalid email: %(reason)s", reason=problem)
    if len(row.full_name) > FULL_NAME_MAX:
        return ngettext(
            "too long: full name (at most %(num)d character)",
            "too long: full name (at most %(num)d characters)",
            FULL_NAME_MAX,
        )
    if len(row.comment) > COMMENT_MAX:
        return ngettext(
            "too long: comment (at most %(num)d character)",
            "too long: comment (at most %(num)d characters)",
            COMMENT_MAX,
        )
    if row.unsubscribed_at or row.bounced_at:  # most rows have neither
        for name in OPT_OUT_COLUMNS:
            try:
                read_date(getattr(row, name))
            except ValueError:
                return _(
                    "not a date: %(column)s “%(value)s” (write e.g. 2024-05-31 14:30"
                    " or 31.05.2024; empty if not)",
                    column=name,
                    value=_shown(getattr(row, name)),
                )
    return None


def valid_rows(
    rows: Iterable[Row], report: ImportReport, first_line: dict[str, int] | None = None
) -> list[Checked]:
    """The rows that pass every check in the file itself; the others go to `report`.

    `first_line` (email -> line) carries the emails seen so far from one chunk
    of a file to the next. A repeated email is reported as a duplicate; if its
    line says the client opted out, it is kept too (`repeated`), to mark them.
    """
    first_line = {} if first_line is None else first_line
    good = []
    for row in rows:
        problem = row_error(row)
        email = normalize_email(row.email)
        repeated = problem is None and email in first_line
        if repeated:
            problem = _("duplicate in file (first on line %(line)d)", line=first_line[email])
        if problem is not None:
            report.rejected.append(Rejected(row.line, row.email, problem))
            if not (repeated and (row.unsubscribed_at or row.bounced_at)):
                continue
        else:
            first_line[email] = row.line
        good.append(
            Checked(
                row.line,
                email,
                row.full_name,
                row.comment,
                read_date(row.unsubscribed_at),
                read_date(row.bounced_at),
                repeated,
            )
        )
    return good


def import_rows(*, owner: User, rows: Iterable[Row]) -> ImportReport:
    """Validate and insert `rows` for `owner`, CHUNK at a time; flushes, the caller commits.

    On PostgreSQL a second thread sends each chunk to the database while this
    one reads and validates the next (psycopg2 lets go of the GIL while the
    server works), so an import takes about as long as its inserts alone.
    """
    report = ImportReport()
    first_line: dict[str, int] = {}
    chunks = (valid_rows(chunk, report, first_line) for chunk in _batches(rows, CHUNK))
    connection = db.session.connection()
    insert = partial(_write_chunk, connection, owner.id, utcnow())
    if connection.dialect.name == "postgresql":
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="client-import") as database:
            sent = None
            for chunk in chunks:  # validated while the chunk before it was being inserted
                if sent is not None:
                    _count_inserted(sent[0], sent[1].result(), report)
                sent = chunk, database.submit(insert, chunk)
            if sent is not None:
                _count_inserted(sent[0], sent[1].result(), report)
    else:
        for chunk in chunks:
            _count_inserted(chunk, insert(chunk), report)
    report.rejected.sort(key=lambda rejected: rejected.line)
    return report


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def _count_inserted(
    chunk: list[Checked], written: tuple[set[str], int], report: ImportReport
) -> None:
    # No look-up of the existing emails before the insert: ON CONFLICT DO
    # NOTHING finds them in the unique index anyway, and a second probe per
    # row (planned on statistics that still say the table is small) cost as
    # much as the insert itself.
    inserted, marked = written
    for row in chunk:
        if row.repeated:
            continue  # rejected as a duplicate already
        if row.email not in inserted:
            report.rejected.append(Rejected(row.line, row.email, _("already a client")))
        elif row.opted_out:
            report.unsubscribed += row.unsubscribed_at is not None
            report.bounced += row.bounced_at is not None
    report.imported += len(inserted)
    report.marked += marked


def _write_chunk(connection, owner_id: int, now, rows: list[Checked]) -> tuple[set[str], int]:
    """Insert the chunk, then mark the clients that its other lines say opted out.

    The emails inserted and the number of clients marked. Touches nothing
    but `connection`: it may run in the import's second thread.
    """
    new = [row for row in rows if not row.repeated]
    inserted = _insert_ignoring_conflicts(connection, owner_id, now, new)
    opted_out = [
        row for row in rows if row.opted_out and (row.repeated or row.email not in inserted)
    ]
    return inserted, _mark_opted_out(connection, owner_id, opted_out)


def _insert_ignoring_conflicts(connection, owner_id: int, now, rows: list[Checked]) -> set[str]:
    """Insert the rows in one statement, skipping emails that exist; the emails inserted."""
    if not rows:
        return set()
    if connection.dialect.name == "postgresql":
        result = connection.execute(_postgres_insert(owner_id, rows, now))
    else:
        result = connection.execute(*_sqlite_insert(owner_id, rows, now))
    return set(result.scalars())


def _mark_opted_out(connection, owner_id: int, rows: list[Checked]) -> int:
    """Fill the dates still empty of the owner's clients these rows name; how many changed.

    One UPDATE ... FROM a list of (email, unsubscribed_at, bounced_at): a date
    already set stays (never cleared, never moved). An email on several
    lines gets the earliest of their dates.
    """
    if not rows:
        return 0
    earliest: dict[str, tuple[datetime | None, datetime | None]] = {}
    for row in rows:
        unsubscribed, bounced = earliest.get(row.email, (None, None))
        earliest[row.email] = (
            _earlier(unsubscribed, row.unsubscribed_at),
            _earlier(bounced, row.bounced_at),
        )
    table = Client.__table__
    if connection.dialect.name == "postgresql":
        source = _postgres_source(earliest)
    else:
        source = _sqlite_source(earliest)
    statement = (
        update(table)
        .where(
            table.c.owner_id == owner_id,
            table.c.email == source.c.email,
            or_(
                table.c.unsubscribed_at.is_(None) & source.c.unsubscribed_at.is_not(None),
                table.c.bounced_at.is_(None) & source.c.bounced_at.is_not(None),
            ),
        )
        .values(
            unsubscribed_at=func.coalesce(table.c.unsubscribed_at, source.c.unsubscribed_at),
            bounced_at=func.coalesce(table.c.bounced_at, source.c.bounced_at),
        )
        .returning(table.c.id)
    )
    return len(connection.execute(statement).all())


def _earlier(first: datetime | None, second: datetime | None) -> datetime | None:
    return second if first is None else first if second is None else min(first, second)


def _postgres_source(earliest: dict[str, tuple[datetime | None, datetime | None]]):
    """unnest(emails, unsubscribed dates, bounced dates), as the insert reads its rows."""
    from sqlalchemy.dialects.postgresql import ARRAY

    moments = ARRAY(TIMESTAMP(timezone=True))
    return (
        func.unnest(
            bindparam("emails", list(earliest), type_=ARRAY(Text)),
            cast(bindparam("unsubscribed", [u for u, b in earliest.values()], moments), moments),
            cast(bindparam("bounced", [b for u, b in earliest.values()], moments), moments),
        )
        .table_valued("email", "unsubscribed_at", "bounced_at")
        .render_derived()
    )


def _sqlite_source(earliest: dict[str, tuple[datetime | None, datetime | None]]):
    """A VALUES list as a CTE (SQLite names no columns of a VALUES in FROM)."""
    rows = [(email, *dates) for email, dates in earliest.items()]
    return (
        values(
            column("email", String),
            column("unsubscribed_at", UTCDateTime),
            column("bounced_at", UTCDateTime),
            name="opted_out",
        )
        .data(rows)
        .cte("opted_out")
    )


def _has_dates(rows: list[Checked]) -> bool:
    """Whether the insert writes the date columns: left out when all are empty, it sends less."""
    return any(row.opted_out for row in rows)


def _postgres_insert(owner_id: int, rows: list[Checked], now):
    """INSERT ... SELECT FROM unnest(three or five arrays) ON CONFLICT DO NOTHING.

    An array parameter per column instead of 8 x 5,000 scalar ones: measured
    here at twice the rows per second of a multi-row VALUES insert, the
    difference between missing and meeting the import's 20,000 rows/s.
    """
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    table = Client.__table__
    dated = _has_dates(rows)
    columns = [name for name in IMPORT_COLUMNS if dated or name not in OPT_OUT_COLUMNS]
    from_file = [name for name in columns if name not in ("owner_id", "hard_bounces", "created_at")]
    moments = ARRAY(TIMESTAMP(timezone=True))

    def array(name: str):
        cells = [getattr(row, name) for row in rows]
        if name in OPT_OUT_COLUMNS:  # cast: an array of NULLs alone would be read as text
            return cast(bindparam(name, cells, type_=moments), moments)
        return bindparam(name, cells, type_=ARRAY(Text))

    source = func.unnest(*map(array, from_file)).table_valued(*from_file).render_derived()
    rows_select = select(
        literal(owner_id, Integer),
        *(source.c[name] for name in from_file),
        literal(0, Integer),
        literal(now, UTCDateTime),
    ).where(true())  # PostgreSQL needs a WHERE before ON CONFLICT in INSERT ... SELECT
    return (
        insert(table)
        .from_select(columns, rows_select)
        .on_conflict_do_nothing(index_elements=[table.c.owner_id, table.c.email])
        .returning(table.c.email)
    )


def _sqlite_insert(owner_id: int, rows: list[Checked], now):
    """INSERT ... ON CONFLICT DO NOTHING (SQLite's INSERT OR IGNORE) and its rows.

    Executed with a list of rows, SQLAlchemy sends them as multi-row VALUES
    batches sized to SQLite's limit on parameters.
    """
    from sqlalchemy.dialects.sqlite import insert

    table = Client.__table__
    records = [
        {
            "owner_id": owner_id,
            "email": row.email,
            "full_name": row.full_name,
            "comment": row.comment,
            "hard_bounces": 0,
            "created_at": now,
        }
        for row in rows
    ]
    if _has_dates(rows):
        for record, row in zip(records, rows, strict=True):
            record.update(unsubscribed_at=row.unsubscribed_at, bounced_at=row.bounced_at)
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.owner_id, table.c.email])
        .returning(table.c.email)
    )
    return statement, records


def refresh_statistics(imported: int) -> None:
    """After a big import, let PostgreSQL's planner know (call after the commit).

    Until autovacuum gets to it, the planner would still think the owner has a
    handful of clients and pick plans that make the list pages slow.
    """
    if imported >= ANALYZE_AFTER_ROWS and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE clients"))
        db.session.commit()


def preview_rows(parsed: ParsedFile) -> Iterator[tuple[Row, str | None]]:
    """The first rows with what is wrong with each on its own (before the database check)."""
    for row in parsed.rows[:PREVIEW_ROWS]:
        yield row, row_error(row)


# --- the uploaded file between preview and confirmation ------------------------------------

PENDING_MAX_AGE_SECONDS = 24 * 3600


def _imports_dir() -> Path:
    return Path(current_app.config["CLIENT_IMPORT_DIR"])


def _pending_path(owner: User, token: str) -> Path | None:
    # The owner's id is part of the name: a token never opens someone else's file.
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        return None
    return _imports_dir() / f"{owner.id}-{token}.csv"


def keep_upload(*, owner: User, data: bytes) -> str:
    """Store an uploaded file until it is confirmed; returns its token."""
    folder = _imports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _forget_old(folder)
    token = secrets.token_urlsafe(16)
    path = _pending_path(owner, token)
    path.write_bytes(data)
    return token


def pending_upload(*, owner: User, token: str) -> bytes | None:
    path = _pending_path(owner, token)
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def discard_upload(*, owner: User, token: str) -> None:
    path = _pending_path(owner, token)
    if path is not None:
        path.unlink(missing_ok=True)


def _forget_old(folder: Path) -> None:
    """Uploads never confirmed are removed after a day."""
    oldest = time.time() - PENDING_MAX_AGE_SECONDS
    for path in folder.glob("*.csv"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < oldest:
                path.unlink()
