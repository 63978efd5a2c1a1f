"""Reading an uploaded CSV file (or a workbook's sheet, as workbooks.py writes it) into
rows: its encoding, separator and header, and the dates a row may carry. Nothing is
checked against the database or written here.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from itertools import chain, islice
from typing import NamedTuple

from flask_babel import gettext as _

from mailer.mailings.client_queries import unprotect_formula

DELIMITERS = (",", ";", "\t")
SNIFF_LINES = 50
# The header may stand below a title: it is the first of this many lines (those with
# anything in them) that names a column, when no line above it holds an address.
HEADER_SEARCH_LINES = 10
SNIFF_CHARS = 64 * 1024
DECODED_PIECE = 1024 * 1024  # characters (or bytes) decoded at a time
# Header cells we recognise (lower-cased), in English and Russian, likelier first: when two
# cells name one column ("Адрес" for a postal address beside "E-mail"), the likelier wins.
# The exports of other programs import as they are: Mailchimp's audience (Email Address,
# First Name, Last Name, NOTES; UNSUB_TIME in its unsubscribed export, CLEAN_TIME in its
# cleaned one: addresses that bounced), Outlook's contacts (E-mail Address, Notes) and
# Google's (E-mail 1 - Value, Name, Notes).
HEADER_NAMES = {
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "e-mail 1 - value",
        "электронная почта",
        "эл. почта",
        "почта",
        "mail",
        "адрес",
    ),
    "full_name": ("full_name", "full name", "фио", "ф.и.о.", "name", "клиент", "имя"),
    "comment": ("comment", "comments", "note", "notes", "комментарий", "примечание"),
    "unsubscribed_at": (
        "unsubscribed_at",
        "unsubscribed at",
        "unsubscribed",
        "unsub_time",
        "отписался",
        "отписан",
        "отписка",
        "дата отписки",
    ),
    "bounced_at": (
        "bounced_at",
        "bounced at",
        "bounced",
        "clean_time",
        "письма не доходят",
        "недоставка",
    ),
}
# A name in columns of its parts, in the order it is written: the full name joins them
# (when no column holds it whole). Each part by its names.
NAME_PARTS = (
    (("фамилия",), ("имя",), ("отчество",)),
    (
        ("first name", "first_name", "given name"),
        ("middle name", "middle_name"),
        ("last name", "last_name", "surname", "family name"),
    ),
)
NAME_PART_CELLS = frozenset(word for parts in NAME_PARTS for names in parts for word in names)
WHOLE_NAME_CELLS = frozenset(HEADER_NAMES["full_name"]) - NAME_PART_CELLS
KNOWN_HEADER_CELLS = NAME_PART_CELLS.union(*HEADER_NAMES.values())

# The columns that say a client opted out, as the export names them; empty = not.
OPT_OUT_COLUMNS = ("unsubscribed_at", "bounced_at")
# A row's fields, each read from a column (its position; -1: none). The preview may choose
# them by hand; the full name may then be NAME_PARTS_JOINED: the name's parts, as the
# header names them (Фамилия, Имя, Отчество), joined.
FIELDS = ("email", "full_name", "comment", *OPT_OUT_COLUMNS)
NO_COLUMN = -1
NAME_PARTS_JOINED = -2

# Day first, as Excel on a Russian Windows writes a date it recognised in the export.
DOTTED_DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S")


class Row(NamedTuple):  # a tuple: a million of them are built quickly
    """A line of the file as written (the dates too, as text)."""

    line: int
    email: str
    full_name: str
    comment: str
    unsubscribed_at: str = ""
    bounced_at: str = ""


@dataclass
class FileLayout:
    """How a file is laid out, as its preview shows it: known once its rows were read."""

    encoding: str
    delimiter: str
    header: list[str] | None
    header_line: int = 0  # the lines above it (a title) are left out
    # Where each field was read from (FIELDS), found by the header or chosen by hand.
    columns: dict[str, int] = field(default_factory=dict)
    name_parts: tuple[int, ...] = ()  # the name's parts the header names, if it does
    chosen: bool = False  # whether `columns` were chosen by hand
    sample: list[str] = field(default_factory=list)  # the first row's cells, as written

    @property
    def column_choices(self) -> list[tuple[int, str, str]]:
        """The file's columns, as the preview offers them to choose: each position with its
        header cell ("" without a header) and the first row's cell there."""
        header, sample = self.header or [], self.sample
        return [
            (position, _cell(header, position), _cell(sample, position))
            for position in range(max(len(header), len(sample)))
        ]

    @property
    def name_parts_named(self) -> str:
        """The name's parts as the header names them: "Фамилия + Имя + Отчество"."""
        return " + ".join(_cell(self.header or [], position) for position in self.name_parts)

    @property
    def opt_out_columns(self) -> bool:
        """Whether an unsubscribed or a bounced column is read."""
        return any(self.columns.get(name, NO_COLUMN) >= 0 for name in OPT_OUT_COLUMNS)


@dataclass
class ParsedFile(FileLayout):
    """A file's layout and every row of it."""

    rows: list[Row] = field(default_factory=list)


class UnreadableFile(ValueError):
    """The upload is not a file the import can read; the message says why."""


class Encoding(NamedTuple):
    codec: str  # Python's name
    name: str  # as the preview shows it
    skip: int = 0  # bytes of a byte order mark the codec leaves in


def encoding_of(data: bytes) -> Encoding:
    """UTF-8 (with or without BOM) if it is valid, UTF-16 with its BOM (Excel's "Unicode
    text"), else cp1251. Checked piece by piece: the file is never held decoded."""
    if data.startswith(b"\xef\xbb\xbf"):
        return Encoding("utf-8", "UTF-8 (BOM)", skip=3)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Encoding("utf-16", "UTF-16")
    checker, view = codecs.getincrementaldecoder("utf-8")(), memoryview(data)
    try:
        for start in range(0, len(data), DECODED_PIECE):
            checker.decode(view[start : start + DECODED_PIECE])
        checker.decode(b"", final=True)
    except UnicodeDecodeError:
        # Excel's "CSV" on a Russian Windows; 0x98 is its one undefined byte.
        return Encoding("cp1251", "Windows-1251")
    return Encoding("utf-8", "UTF-8")


def text_of(data: bytes, encoding: Encoding) -> io.TextIOWrapper:
    """The file's text, decoded as it is read (a million rows decoded at once took some
    360 MB more), its line endings as written, for the csv module."""
    stream = io.BytesIO(data)  # shares `data` until written to, which it never is
    stream.seek(encoding.skip)
    return io.TextIOWrapper(stream, encoding=encoding.codec, errors="replace", newline="")


def first_binary_line(data: bytes, encoding: Encoding) -> int | None:
    """The line of the file's first NUL character, as no text file holds, or None."""
    if encoding.codec != "utf-16":
        found = data.find(b"\x00")  # in UTF-8 and cp1251, the NUL character's one byte
        return None if found < 0 else data.count(b"\n", 0, found) + 1
    text = text_of(data, encoding)
    lines_before = 0
    while piece := text.read(DECODED_PIECE):
        if (found := piece.find("\x00")) >= 0:
            return lines_before + piece.count("\n", 0, found) + 1
        lines_before += piece.count("\n")
    return None


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
    found: dict[str, int] = {}
    for name, words in HEADER_NAMES.items():
        taken = set(found.values())
        position = next((cells.index(w) for w in words if w in cells), -1)
        if position >= 0 and position not in taken:
            found[name] = position
    if found:
        positions = {name: found.get(name, -1) for name in positions}
        if positions["email"] == -1:
            positions["email"] = 0
    return positions


def _name_parts(header: list[str] | None) -> tuple[int, ...]:
    """The positions of a name's parts, in the order they are written, when the header has
    a surname, patronymic or other part beyond a first name and no column for the whole."""
    cells = [cell.strip().lower() for cell in header or []]
    if WHOLE_NAME_CELLS.intersection(cells):
        return ()
    for parts in NAME_PARTS:
        positions = [next((cells.index(w) for w in names if w in cells), -1) for names in parts]
        found = tuple(position for position in positions if position >= 0)
        if len(found) > 1:
            return found
    return ()


def _is_header(cells: list[str]) -> bool:
    """A first line is a header when it names a column we know and holds no address; one
    that does not is a row of data, imported or reported like any other."""
    named = {cell.strip().lower() for cell in cells} & KNOWN_HEADER_CELLS
    return bool(named) and not any("@" in cell for cell in cells)


def column_problem(columns: dict[str, int]) -> str | None:
    """Why columns chosen by hand cannot be read (FIELDS -> position), or None."""
    if columns.get("email", NO_COLUMN) < 0:
        return _("Choose the column that holds the email addresses.")
    taken = [position for position in columns.values() if position >= 0]
    if len(taken) != len(set(taken)):
        return _("Two fields take the same column: choose a column for each.")
    return None


def open_file(data: bytes, columns: dict[str, int] | None = None) -> _Reading:
    """The file, to read its rows (`rows()`) and then its layout (`layout()`); its fields
    are read from `columns` (see FIELDS) when given, else from the columns its header names.
    UnreadableFile for binary data. A workbook is read by workbooks.py first."""
    encoding = encoding_of(data)
    if (line := first_binary_line(data, encoding)) is not None:
        raise UnreadableFile(
            _(
                "This is not a CSV file: it holds binary data (the first on line %(line)s).",
                line=line,
            )
        )
    return _Reading(data, encoding, columns)


def parse(data: bytes, columns: dict[str, int] | None = None) -> ParsedFile:
    """The file's layout and all its rows, or UnreadableFile (binary data, a cell past the
    csv module's limit). See open_file."""
    reading = open_file(data, columns)
    rows = list(reading.rows())
    return reading.layout(ParsedFile, rows=rows)


def read_rows(data: bytes, columns: dict[str, int] | None = None) -> Iterator[Row]:
    """The rows parse() would give, read one by one as the import takes them."""
    return iter(_Reading(data, encoding_of(data), columns))


class _Reading:
    """The rows of a file (decoded as they are read), their fields read from `chosen`
    columns when given; the header, the columns read and a sample row are known once the
    first rows were read."""

    def __init__(self, data: bytes, encoding: Encoding, chosen: dict[str, int] | None = None):
        self.data = data
        self.encoding = encoding
        start = text_of(data, encoding).read(SNIFF_CHARS)
        sample = [line for line in start.splitlines()[:SNIFF_LINES] if line.strip()]
        self.delimiter = sniff_delimiter(sample)
        self.chosen = chosen
        self.header: list[str] | None = None
        self.header_line = 0  # the header's line, when there is one
        self.columns: dict[str, int] = {}
        self.name_parts: tuple[int, ...] = ()
        self.sample: list[str] = []  # the first row's cells
        self.line = 0  # the last line read; a record that cannot be read starts after it

    def __iter__(self) -> Iterator[Row]:
        lines = self._lines()
        first = list(islice(lines, HEADER_SEARCH_LINES))
        at, name_parts = _columns(None), ()
        header = self._header_at(first)
        if header is None and self.chosen is not None and first:
            # Its column names are unknown words: with the columns chosen by hand, a first
            # line without an address where the addresses are is their header.
            email = _cell(first[0][1], self.chosen.get("email", NO_COLUMN))
            header = 0 if "@" not in email else None
        if header is not None:
            self.header_line, self.header = first[header]
            at, name_parts = _columns(self.header), _name_parts(self.header)
            first = first[header + 1 :]
        self.name_parts = name_parts
        if self.chosen is not None:
            at = {name: self.chosen.get(name, NO_COLUMN) for name in FIELDS}
            if at["full_name"] != NAME_PARTS_JOINED:
                name_parts = ()
        elif name_parts:
            at = {**at, "full_name": NAME_PARTS_JOINED}
        self.columns = at
        self.sample = first[0][1] if first else []
        for line, cells in chain(first, lines):
            yield _row(line, cells, at, name_parts)

    def rows(self) -> Iterator[Row]:
        """Its rows; UnreadableFile for a record the csv module cannot read (a cell past its
        limit)."""
        try:
            yield from self
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                limit = csv.field_size_limit() // 1024
                reason = _("a cell is longer than %(size)d KB", size=limit)
            else:  # the csv module's own words: a file it cannot read at all is rare
                reason = str(error)
            raise UnreadableFile(
                _("line %(line)s cannot be read: %(reason)s", line=self.line + 1, reason=reason)
            ) from None

    def layout(self, kind: type[FileLayout] = FileLayout, **more) -> FileLayout:
        """The file's layout (of `kind`, with `more` fields), once its rows were read."""
        return kind(
            encoding=self.encoding.name,
            delimiter=self.delimiter,
            header=self.header,
            header_line=self.header_line,
            columns=self.columns,
            name_parts=self.name_parts,
            chosen=self.chosen is not None,
            sample=self.sample,
            **more,
        )

    def _lines(self) -> Iterator[tuple[int, list[str]]]:
        """Each record with anything in it, with the number of the line it starts on (a
        quoted cell may go on over several)."""
        reader = csv.reader(text_of(self.data, self.encoding), delimiter=self.delimiter)
        ended = 0  # the line the record before ended on
        for cells in reader:
            first, ended = ended + 1, reader.line_num
            self.line = ended
            if any(cell.strip() for cell in cells):
                yield first, cells

    @staticmethod
    def _header_at(first: list[tuple[int, list[str]]]) -> int | None:
        """Which of the first lines is the header: the first that names a column, below
        nothing but lines without an address (a sheet's title, say); None when none is."""
        for index, (_line, cells) in enumerate(first):
            if _is_header(cells):
                return index
            if any("@" in cell for cell in cells):
                return None  # a client's line: the lines below it are clients too
        return None


def _row(line: int, cells: list[str], at: dict[str, int], name_parts: tuple[int, ...]) -> Row:
    # Every text column as it was before the export kept Excel from
    # running it (an address may start with - + = too).
    email = unprotect_formula(_cell(cells, at["email"]))
    full_name = unprotect_formula(
        " ".join(filter(None, (_cell(cells, i) for i in name_parts)))
        if name_parts
        else _cell(cells, at["full_name"])
    )
    if email.endswith(">"):  # "Anna Ivanova <anna@example.com>", as mail programs copy
        name, address = parseaddr(email)
        if "@" in address:  # else the cell stays as written, and is reported so
            email, full_name = address, full_name or name
    return Row(
        line=line,
        email=email,
        full_name=full_name,
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
