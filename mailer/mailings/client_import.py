"""CSV import of clients: read the file, validate every row in Python, insert in chunks.

The file is parsed twice: once for the preview (nothing written) and once
on confirmation. Rows are validated here (email-validator, lengths,
duplicates in the file); each chunk then goes in as one set-based INSERT
that skips the emails the owner already has and returns those it inserted,
so the others are reported as already there (a concurrent import of the
same email included, never an error).
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
from functools import partial
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Integer, Text, bindparam, func, literal, select, text, true

from mailer.extensions import db
from mailer.mailings.client_queries import unprotect_formula
from mailer.mailings.client_services import COMMENT_MAX, FULL_NAME_MAX, email_error
from mailer.models import Client, User, normalize_email, utcnow
from mailer.models.types import UTCDateTime

DELIMITERS = (",", ";", "\t")
CHUNK = 5000
PREVIEW_ROWS = 20
ANALYZE_AFTER_ROWS = 10_000
IMPORT_COLUMNS = ["owner_id", "email", "full_name", "comment", "hard_bounces", "created_at"]
SNIFF_LINES = 50
SNIFF_CHARS = 64 * 1024
# Header cells we recognise (lower-cased), in English and Russian.
HEADER_NAMES = {
    "email": {"email", "e-mail", "mail", "адрес", "почта", "эл. почта", "электронная почта"},
    "full_name": {"full_name", "full name", "name", "имя", "фио", "ф.и.о.", "клиент"},
    "comment": {"comment", "comments", "note", "комментарий", "примечание"},
}


class Row(NamedTuple):  # a tuple: a million of them are built quickly
    line: int
    email: str
    full_name: str
    comment: str


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


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)

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


def _columns(header: list[str] | None) -> tuple[int, int, int]:
    """Positions of email, full name and comment: by header names, else the first three.

    A header naming some columns leaves the unnamed ones empty (-1) rather than guessing.
    """
    positions = {"email": 0, "full_name": 1, "comment": 2}
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
    return positions["email"], positions["full_name"], positions["comment"]


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
        email_at, name_at, comment_at = _columns(None)
        first = True
        for cells in reader:
            self.line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if first:
                first = False
                if _is_header(cells):
                    self.header = cells
                    email_at, name_at, comment_at = _columns(cells)
                    continue
            yield Row(
                line=reader.line_num,
                email=_cell(cells, email_at),
                full_name=unprotect_formula(_cell(cells, name_at)),
                comment=unprotect_formula(_cell(cells, comment_at)),
            )


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if 0 <= index < len(cells) else ""


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
    return None


def valid_rows(
    rows: Iterable[Row], report: ImportReport, first_line: dict[str, int] | None = None
) -> list[Row]:
    """The rows that pass every check in the file itself; the others go to `report`.

    `first_line` (email -> line) carries the emails seen so far from one chunk
    of a file to the next.
    """
    first_line = {} if first_line is None else first_line
    good = []
    for row in rows:
        problem = row_error(row)
        email = normalize_email(row.email)
        if problem is None and email in first_line:
            problem = _("duplicate in file (first on line %(line)d)", line=first_line[email])
        if problem is not None:
            report.rejected.append(Rejected(row.line, row.email, problem))
            continue
        first_line[email] = row.line
        good.append(Row(row.line, email, row.full_name, row.comment))
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
    insert = partial(_insert_ignoring_conflicts, connection, owner.id, utcnow())
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


def _count_inserted(chunk: list[Row], inserted: set[str], report: ImportReport) -> None:
    # No look-up of the existing emails before the insert: ON CONFLICT DO
    # NOTHING finds them in the unique index anyway, and a second probe per
    # row (planned on statistics that still say the table is small) cost as
    # much as the insert itself.
    for row in chunk:
        if row.email not in inserted:
            report.rejected.append(Rejected(row.line, row.email, _("already a client")))
    report.imported += len(inserted)


def _insert_ignoring_conflicts(connection, owner_id: int, now, rows: list[Row]) -> set[str]:
    """Insert the chunk in one statement, skipping emails that exist; the emails inserted.

    Touches nothing but `connection`: it may run in the import's second thread.
    """
    if not rows:
        return set()
    if connection.dialect.name == "postgresql":
        result = connection.execute(_postgres_insert(owner_id, rows, now))
    else:
        result = connection.execute(*_sqlite_insert(owner_id, rows, now))
    return set(result.scalars())


def _postgres_insert(owner_id: int, rows: list[Row], now):
    """INSERT ... SELECT FROM unnest(three arrays) ON CONFLICT DO NOTHING.

    Three array parameters instead of 6 x 5,000 scalar ones: measured here at
    twice the rows per second of a multi-row VALUES insert, the difference
    between missing and meeting the import's 20,000 rows/s.
    """
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    table = Client.__table__
    arrays = [
        bindparam(name, [getattr(row, name) for row in rows], type_=ARRAY(Text))
        for name in ("email", "full_name", "comment")
    ]
    source = func.unnest(*arrays).table_valued("email", "full_name", "comment").render_derived()
    rows_select = select(
        literal(owner_id, Integer),
        source.c.email,
        source.c.full_name,
        source.c.comment,
        literal(0, Integer),
        literal(now, UTCDateTime),
    ).where(true())  # PostgreSQL needs a WHERE before ON CONFLICT in INSERT ... SELECT
    return (
        insert(table)
        .from_select(IMPORT_COLUMNS, rows_select)
        .on_conflict_do_nothing(index_elements=[table.c.owner_id, table.c.email])
        .returning(table.c.email)
    )


def _sqlite_insert(owner_id: int, rows: list[Row], now):
    """INSERT ... ON CONFLICT DO NOTHING (SQLite's INSERT OR IGNORE) and its rows.

    Executed with a list of rows, SQLAlchemy sends them as multi-row VALUES
    batches sized to SQLite's limit on parameters.
    """
    from sqlalchemy.dialects.sqlite import insert

    table = Client.__table__
    values = [
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
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.owner_id, table.c.email])
        .returning(table.c.email)
    )
    return statement, values


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
