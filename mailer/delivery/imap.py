"""The sending account's mailbox over IMAP, read-only (inbox.py acts on what it finds).

The folder is opened with EXAMINE and emails are fetched with BODY.PEEK, so no
flag changes and nothing is deleted or moved. Every failure is an InboxError
whose message is one line naming the setting to check.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mailer.delivery import reports
from mailer.mail import certificate_hint, mask_email

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # larger emails are no request or report of ours
HEADERS_READ = "SUBJECT CONTENT-TYPE"  # all a request or report shows before its body
_FETCHED_UID = re.compile(rb"\bUID (\d+)")
_FETCHED_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


class InboxError(Exception):
    """The mailbox cannot be read; the message is one line naming the setting to check."""


@contextmanager
def connected(config) -> Iterator[imaplib.IMAP4]:
    where = f"INBOX_SERVER {config['INBOX_SERVER']}:{config['INBOX_PORT']}"
    imap = _opened(config, where)
    try:
        _log_in(imap, config, where)
        yield imap
    except (OSError, imaplib.IMAP4.abort) as error:
        raise InboxError(f"lost the connection to {where}: {_reason(error)}") from None
    except imaplib.IMAP4.error as error:  # a BAD answer: the next read tries again
        raise InboxError(f"{where} refused a command: {_reason(error)}") from None
    finally:
        with suppress(OSError, imaplib.IMAP4.error):  # gone already: nothing to close
            imap.logout()


def _opened(config, where: str) -> imaplib.IMAP4:
    """A connection to the server: in TLS from the start (INBOX_USE_SSL), after STARTTLS
    (INBOX_USE_TLS), or plain."""
    server, port, timeout = config["INBOX_SERVER"], config["INBOX_PORT"], config["MAIL_TIMEOUT"]
    context = ssl.create_default_context()
    try:
        if config["INBOX_USE_SSL"]:
            return imaplib.IMAP4_SSL(server, port, ssl_context=context, timeout=timeout)
        imap = imaplib.IMAP4(server, port, timeout=timeout)
    except ssl.SSLError as error:
        raise InboxError(_no_tls(where, error, "INBOX_USE_SSL")) from None
    except (OSError, imaplib.IMAP4.error) as error:
        raise InboxError(f"cannot reach {where}: {_reason(error)}") from None
    if config["INBOX_USE_TLS"]:
        _start_tls(imap, context, where)
    return imap


def _start_tls(imap: imaplib.IMAP4, context: ssl.SSLContext, where: str) -> None:
    try:
        imap.starttls(ssl_context=context)
    except ssl.SSLError as error:
        failure = _no_tls(where, error, "INBOX_USE_TLS")
    except imaplib.IMAP4.error as error:  # not offered, or refused
        failure = (
            f"{where} does not start TLS: {_reason(error)} (check INBOX_PORT and"
            " INBOX_USE_TLS; for TLS from the start, INBOX_USE_SSL=True and its port, 993)"
        )
    except OSError as error:
        failure = f"lost the connection to {where}: {_reason(error)}"
    else:
        return
    with suppress(OSError):
        imap.shutdown()
    raise InboxError(failure)


def _no_tls(where: str, error: ssl.SSLError, setting: str) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        hint = certificate_hint(str(error), "INBOX_SERVER")
        return f"{where} sent a certificate that is not trusted: {error.verify_message}{hint}"
    return (
        f"no TLS connection to {where}: {error.reason or error}"
        f" (check INBOX_SERVER, INBOX_PORT and {setting})"
    )


def _log_in(imap: imaplib.IMAP4, config, where: str) -> None:
    if "LOGINDISABLED" in imap.capabilities:  # RFC 3501: no login before TLS
        raise InboxError(
            f"{where} takes no login without TLS (set INBOX_USE_TLS=True for STARTTLS"
            " on this port, or INBOX_USE_SSL=True and its TLS port, 993)"
        )
    try:
        imap.login(config["INBOX_USERNAME"], config["INBOX_PASSWORD"])
    except (imaplib.IMAP4.error, UnicodeEncodeError) as error:
        raise InboxError(
            f"{where} refused the login of {mask_email(config['INBOX_USERNAME'])}:"
            f" {_reason(error)} (check INBOX_USERNAME and INBOX_PASSWORD; Yandex wants an"
            " app password, and IMAP enabled in its mail settings)"
        ) from None


def examine(imap: imaplib.IMAP4, folder: str) -> int:
    """Open the folder read-only (EXAMINE); its UIDVALIDITY."""
    status, data = imap.select(_quoted(folder), readonly=True)
    if status != "OK":
        raise InboxError(f"cannot open the folder INBOX_FOLDER={folder!r}: {_reason(data)}")
    _, values = imap.response("UIDVALIDITY")
    if not values or values[0] is None:
        raise InboxError(f"the folder INBOX_FOLDER={folder!r} gives no UIDVALIDITY")
    return int(values[0])


def uids_after(imap: imaplib.IMAP4, last_uid: int) -> list[int]:
    status, data = imap.uid("SEARCH", "UID", f"{last_uid + 1}:*")
    if status != "OK":
        raise InboxError(f"the inbox refused to search the folder: {_reason(data)}")
    # "n:*" also names the last email when every UID is below n.
    return sorted(uid for uid in map(int, b" ".join(data or [b""]).split()) if uid > last_uid)


def fetch(imap: imaplib.IMAP4, uids: list[int]) -> list[tuple[int, bytes | None]]:
    """Each email of `uids`, leaving its flags as they are (BODY.PEEK): its headers, and
    the whole of it only for a bounce report (a person's email is not downloaded); None
    for a report larger than MAX_MESSAGE_BYTES, or an email the server did not return."""
    heads = _fetched(imap, uids, f"(RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({HEADERS_READ})])")
    reports_wanted = []
    for uid, (meta, header) in heads.items():
        if not _may_be_report(uid, header):
            continue
        size = _FETCHED_SIZE.search(meta)
        if size and int(size.group(1)) > MAX_MESSAGE_BYTES:
            log.warning(
                "inbox: email UID %s is larger than %s bytes: skipped", uid, MAX_MESSAGE_BYTES
            )
            heads[uid] = (meta, None)
        else:
            reports_wanted.append(uid)
    bodies = _fetched(imap, reports_wanted, "(BODY.PEEK[])") if reports_wanted else {}
    found = {uid: header for uid, (_, header) in heads.items()}
    found.update((uid, body) for uid, (_, body) in bodies.items())
    return [(uid, found.get(uid)) for uid in uids]


def _may_be_report(uid: int, header: bytes) -> bool:
    try:
        return reports.may_be_report(header)
    except Exception:  # reading the whole email says what is wrong with it
        return True


def _fetched(imap: imaplib.IMAP4, uids: list[int], what: str) -> dict[int, tuple[bytes, bytes]]:
    """UID FETCH: each email's UID -> (the response's other items, the literal's bytes)."""
    status, data = imap.uid("FETCH", _uid_set(uids), what)
    if status != "OK":
        raise InboxError(f"the inbox refused to fetch emails: {_reason(data)}")
    found, items = {}, list(data or [])
    for index, item in enumerate(items):
        if not isinstance(item, tuple):
            continue
        # Items may come before the email's bytes or (some servers) in the line after them.
        after = items[index + 1] if index + 1 < len(items) else b""
        meta = item[0] + b" " + (after if isinstance(after, bytes) else b"")
        uid = _FETCHED_UID.search(meta)
        if uid:
            found[int(uid.group(1))] = (meta, item[1])
    return found


def _uid_set(uids: list[int]) -> str:
    return ",".join(map(str, uids))


def _quoted(folder: str) -> str:
    """The folder's name as IMAP writes it: quoted, in modified UTF-7 (RFC 3501 5.1.3)."""
    name = _modified_utf7(folder)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _modified_utf7(name: str) -> str:
    """ "Отказы" -> "&BB4EQgQ6BDAENwRL-": printable ASCII as it is ("&" as "&-"), every
    other run of characters as base64 of its UTF-16 with "," for "/"."""
    encoded, run = [], []

    def flush() -> None:
        if run:
            utf16 = "".join(run).encode("utf-16-be")
            encoded.append(
                "&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-"
            )
            run.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(encoded)


def _reason(error) -> str:
    """The server's words, as text: imaplib gives bytes, lists of them, or an exception."""
    if isinstance(error, list | tuple):
        error = b" ".join(part for part in error if isinstance(part, bytes))
    if isinstance(error, BaseException) and error.args and isinstance(error.args[0], bytes):
        error = error.args[0]
    if isinstance(error, bytes):
        return error.decode("utf-8", "replace")
    return str(error) or type(error).__name__
