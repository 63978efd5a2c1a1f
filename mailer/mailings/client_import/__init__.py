"""CSV import of clients: read the file, validate every row in Python, insert in chunks.

The file is read twice: once for the preview (examine: nothing written,
nothing kept but what the preview shows) and once by the import's job.
Rows are validated here (email-validator, lengths, dates, duplicates in the
file); each chunk then goes in as one set-based INSERT
that skips the emails the owner already has and returns those it inserted,
so the others are reported as already there (a concurrent import of the
same email included, never an error).

A file may say when a client unsubscribed or bounced (the export's
unsubscribed_at and bounced_at columns). A new client gets those dates; a
client the owner already has, or a repeated line of the file, is marked by
one set-based UPDATE per chunk that only fills dates still empty: an
opt-out is never cleared, nor lost.

A workbook (.xlsx, .xls, .ods) is read as the CSV of one sheet (as_csv: the
first with rows, or the one chosen on the preview), for the preview and again
for the import: what follows is the CSV import's.

reading.py reads a file into rows, workbooks.py a workbook into CSV, writing.py
writes a chunk, uploads.py keeps a file between the preview and the confirmation,
background.py runs a confirmed import as a job and follows it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import func, select, text

from mailer.extensions import db
from mailer.i18n import ngettext
from mailer.mailings.client_import.reading import (
    FIELDS,
    HEADER_NAMES,
    OPT_OUT_COLUMNS,
    FileLayout,
    ParsedFile,
    Row,
    UnreadableFile,
    column_problem,
    open_file,
    parse,
    read_date,
    read_rows,
)
from mailer.mailings.client_import.uploads import (
    discard_upload,
    imports_underway,
    keep_upload,
    latest_imports,
)
from mailer.mailings.client_import.workbooks import Sheet, is_workbook, to_csv
from mailer.mailings.client_import.writing import Checked, write_chunk
from mailer.mailings.client_services import (
    COMMENT_MAX,
    FULL_NAME_MAX,
    email_error,
    join_mailings,
)
from mailer.models import Client, User, normalize_email, utcnow

__all__ = [
    "FIELDS",
    "HEADER_NAMES",
    "FileLayout",
    "ImportReport",
    "ParsedFile",
    "Preview",
    "Row",
    "Sheet",
    "UnreadableFile",
    "as_csv",
    "column_problem",
    "discard_upload",
    "examine",
    "import_rows",
    "imports_underway",
    "keep_upload",
    "latest_imports",
    "parse",
    "read_rows",
    "refresh_statistics",
]

CHUNK = 5000
PREVIEW_ROWS = 20
SKIPPED_SHOWN = 1000  # rows the preview lists of those the file rules out; it counts them all
ANALYZE_AFTER_ROWS = 10_000
SHOWN_CELL_MAX = 40


def as_csv(data: bytes, sheet: int | None = None) -> tuple[bytes, Sheet | None]:
    """The upload as the CSV file the import reads, with the sheet it comes from when it is
    a workbook (sheet number `sheet`, else the first with rows); UnreadableFile when a
    workbook cannot be read."""
    return to_csv(data, sheet) if is_workbook(data) else (data, None)


class Rejected(NamedTuple):
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Of the clients imported, those the file says unsubscribed or bounced (on any line).
    unsubscribed: int = 0
    bounced: int = 0
    # Clients the owner had already that the file marked unsubscribed or bounced.
    marked: int = 0
    opt_out_lines: int = 0  # lines with either date: the counts above are asked for then

    @property
    def total(self) -> int:
        return self.imported + len(self.rejected)


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CELL_MAX else text[: SHOWN_CELL_MAX - 1] + "…"


def _after_a_colon(sentence: str) -> str:
    """A sentence as it goes on after "invalid email:": its first letter lower-cased,
    unless its first word is written in capitals ("IP-адрес", "IDNA")."""
    first_word = sentence.split(maxsplit=1)[0] if sentence else ""
    if first_word[1:2].isupper():
        return sentence
    return sentence[:1].lower() + sentence[1:]


def row_error(row: Row) -> str | None:
    """Why a row cannot become a client, by itself (no database), or None."""
    if not row.email:
        return _("invalid email: empty")
    problem = email_error(row.email)
    if problem:
        return _("invalid email: %(reason)s", reason=_after_a_colon(problem))
    if len(row.full_name) > FULL_NAME_MAX:
        return ngettext(
            "too long: full name (at most %(num)s character)",
            "too long: full name (at most %(num)s characters)",
            FULL_NAME_MAX,
        )
    if len(row.comment) > COMMENT_MAX:
        return ngettext(
            "too long: comment (at most %(num)s character)",
            "too long: comment (at most %(num)s characters)",
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


def import_rows(
    *, owner: User, rows: Iterable[Row], mailing_ids: Collection[int] | None = None
) -> ImportReport:
    """Validate and insert `rows` for `owner`, CHUNK at a time, and link the clients it
    added to those of `mailing_ids` that are the owner's mailings (None: to the mailings
    that take new clients); flushes, the caller commits.

    On PostgreSQL a second thread sends each chunk to the database while this
    one reads and validates the next (psycopg2 lets go of the GIL while the
    server works), so an import takes about as long as its inserts alone.
    """
    report = ImportReport()
    first_line: dict[str, int] = {}
    chunks = (valid_rows(chunk, report, first_line) for chunk in _batches(rows, CHUNK))
    connection = db.session.connection()
    now = utcnow()  # every client the import adds was created at this instant
    insert = partial(write_chunk, connection, owner.id, now)
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
    if report.imported and report.opt_out_lines:
        report.unsubscribed, report.bounced = _opted_out_of_the_added(owner, now)
    if report.imported:
        join_mailings(owner, Client.created_at == now, mailing_ids)
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
    report.opt_out_lines += sum(row.opted_out for row in chunk)
    report.imported += len(inserted)
    report.marked += marked


def _opted_out_of_the_added(owner: User, now) -> tuple[int, int]:
    """How many of the clients the import added (all created at `now`) are unsubscribed, and
    how many bounced: by their first line or a later one repeating them."""
    counts = db.session.execute(
        select(func.count(Client.unsubscribed_at), func.count(Client.bounced_at)).where(
            Client.owner_id == owner.id, Client.created_at == now
        )
    ).one()
    return counts[0], counts[1]


def refresh_statistics(imported: int) -> None:
    """After a big import, let PostgreSQL's planner know (call after the commit).

    Until autovacuum gets to it, the planner would still think the owner has a
    handful of clients and pick plans that make the list pages slow.
    """
    if imported >= ANALYZE_AFTER_ROWS and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE clients"))
        db.session.commit()


@dataclass
class Preview:
    """What the import will make of a file, before the database is asked."""

    # The first PREVIEW_ROWS, each with its problem (None: none) and whether it marks its
    # client unsubscribed or bounced (its dates were read; a repeated line's too).
    rows: list[tuple[Row, str | None, bool]] = field(default_factory=list)
    # The first SKIPPED_SHOWN rows the file itself rules out (a repeated line included);
    # `skipped_count` counts them all.
    skipped: list[Rejected] = field(default_factory=list)
    skipped_count: int = 0
    total: int = 0  # rows
    # The file's clients it will import or mark unsubscribed or bounced: each address once,
    # by the rows that pass the checks (a date that cannot be read marks nobody).
    unsubscribed: int = 0
    bounced: int = 0
    sheet: Sheet | None = None  # the workbook's sheet it read; None for a CSV file

    @property
    def importable(self) -> int:
        return self.total - self.skipped_count


def examine(
    upload: bytes, sheet: int | None = None, columns: dict[str, int] | None = None
) -> tuple[FileLayout, Preview]:
    """The upload read and checked as the import will (a workbook's sheet number `sheet`,
    see as_csv; its fields from `columns`, see parse), line by line, writing nothing: its
    layout and its preview. One pass that keeps only what the preview shows (a million
    rows are never held at once); UnreadableFile as as_csv() and parse()."""
    data, read_sheet = as_csv(upload, sheet)
    reading = open_file(data, columns)
    shown = Preview(sheet=read_sheet)
    report = ImportReport()
    first_line: dict[str, int] = {}
    unsubscribed: set[str] = set()
    bounced: set[str] = set()
    for chunk in _batches(reading.rows(), CHUNK):
        shown.total += len(chunk)
        kept = valid_rows(chunk, report, first_line)
        for row in kept:
            if row.unsubscribed_at is not None:
                unsubscribed.add(row.email)
            if row.bounced_at is not None:
                bounced.add(row.email)
        if not shown.rows:
            problems = {rejected.line: rejected.reason for rejected in report.rejected}
            opted_out = {row.line for row in kept if row.opted_out}
            shown.rows = [
                (row, problems.get(row.line), row.line in opted_out) for row in chunk[:PREVIEW_ROWS]
            ]
        shown.skipped_count += len(report.rejected)
        shown.skipped += report.rejected[: SKIPPED_SHOWN - len(shown.skipped)]
        report.rejected.clear()
    shown.unsubscribed, shown.bounced = len(unsubscribed), len(bounced)
    return reading.layout(), shown
