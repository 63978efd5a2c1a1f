"""A spreadsheet workbook (.xlsx, .xls, .ods, .xlsb), read as the CSV file the import reads.

The import takes the first visible sheet with anything in it, or the one
chosen on its preview. Each of the sheet's rows becomes a line of UTF-8 CSV,
so the rows keep their numbers (the report's "line 7" is the sheet's row 7)
and everything after (the header, the preview, the checks, the import) is
the CSV import's. The workbook itself waits between the preview and the
import, which reads its sheet again.

A cell becomes text as the sheet shows it unformatted: a whole number
without ".0", a date as ISO 8601 (which the date columns read), a line
break as a space.

python-calamine reads the workbook (Rust's calamine, as pandas uses it).
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import gettext as _
from python_calamine import (
    CalamineError,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from mailer.mailings.client_import.reading import UnreadableFile

log = logging.getLogger(__name__)

# What a workbook's file starts with.
SIGNATURES = (
    b"PK\x03\x04",  # .xlsx, .xlsb, .ods: a zip archive
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # .xls, and a workbook with a password: an OLE file
)
# The stream that an .xlsx saved with a password keeps, encrypted, in an OLE file.
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# A zip archive may unpack to far more than was uploaded (a "zip bomb"); a sheet of a
# million clients unpacks to about 200 MB.
UNPACKED_MAX = 512 * 1024 * 1024


@dataclass(frozen=True)
class Sheet:
    """Which sheet of the workbook the import reads, and which it could."""

    name: str
    number: int  # 1 for the first
    sheets: int  # in the workbook
    choices: tuple[tuple[int, str], ...] = ()  # the visible sheets, (number, name)


def is_workbook(data: bytes) -> bool:
    return data.startswith(SIGNATURES)


def to_csv(data: bytes, number: int | None = None) -> tuple[bytes, Sheet]:
    """The workbook's sheet `number` (1 for the first), else its first visible sheet with
    anything in it, as UTF-8 CSV; UnreadableFile (saying why) when it cannot be read or has
    no such sheet."""
    _check_unpacked_size(data)
    if data.startswith(SIGNATURES[1]) and ENCRYPTED_PACKAGE in data:
        raise _password_protected()
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:  # an .xls saved with a password
        raise _password_protected() from None
    except CalamineError as error:
        raise _damaged(error) from None
    try:
        return _sheet_as_csv(workbook, number)
    except CalamineError as error:
        raise _damaged(error) from None
    finally:
        workbook.close()


def _sheet_as_csv(workbook: CalamineWorkbook, number: int | None) -> tuple[bytes, Sheet]:
    visible = tuple(
        (position, meta.name)
        for position, meta in enumerate(workbook.sheets_metadata, start=1)
        if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible
    )
    names = dict(visible)
    if number is not None and number not in names:
        raise UnreadableFile(_("The workbook has no sheet %(number)d to import.", number=number))
    for position in (number,) if number is not None else names:
        sheet = workbook.get_sheet_by_index(position - 1)
        if sheet.height == 0:
            continue
        data = io.BytesIO()
        with io.TextIOWrapper(data, encoding="utf-8", newline="", write_through=True) as text:
            writer = csv.writer(text, lineterminator="\n")
            for cells in sheet.iter_rows():  # from the sheet's first row: numbers kept
                writer.writerow([_text(cell) for cell in cells])
            written = data.getvalue()
        return written, Sheet(names[position], position, len(workbook.sheet_names), visible)
    if number is not None:
        raise UnreadableFile(_("The sheet %(name)s has no rows to import.", name=names[number]))
    raise UnreadableFile(_("The workbook has no sheet with rows to import."))


def _text(cell: object) -> str:
    if isinstance(cell, str):
        return " ".join(cell.splitlines())
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # 12345.0: a whole number, as the sheet shows it
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    return str(cell)


def _check_unpacked_size(data: bytes) -> None:
    if not data.startswith(SIGNATURES[0]):
        return  # an OLE file is read as it was uploaded
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as error:
        raise _damaged(error) from None
    if unpacked > UNPACKED_MAX:
        raise UnreadableFile(
            _(
                "This workbook unpacks to %(size)d MB, more than the import reads"
                " (%(max)d MB). Save its clients as a CSV file and upload that.",
                size=unpacked // 2**20,
                max=UNPACKED_MAX // 2**20,
            )
        )


def _damaged(error: Exception) -> UnreadableFile:
    """Refused in the owner's words; the reader's own (English, technical) go to the log."""
    log.info("workbook not read: %s", error)
    return UnreadableFile(_not_read(_("it is damaged, or it is not a workbook")))


def _password_protected() -> UnreadableFile:
    return UnreadableFile(_not_read(_("it is protected by a password")))


def _not_read(reason: str) -> str:
    return _(
        "This workbook cannot be read (%(reason)s). Save it again in Excel or LibreOffice,"
        " or save its clients as a CSV file, and upload that.",
        reason=reason,
    )
