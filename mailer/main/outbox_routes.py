"""The outbox, while mailer is tried on one's own machine (`make run`: debug mode and no mail
server): every email mailer wrote to MAIL_OUTBOX instead of sending it (confirmation and
reset links, test emails, the mailings' emails), newest first, each read back as a mail
program shows it. So trying mailer needs no mail program: registering, the confirmation
link is a click away.

Outside debug mode these pages do not exist (404): a server's outbox holds its users'
emails, for no visitor to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from flask import abort, current_app, render_template

from mailer.mailings import outbox
from mailer.main import bp

LISTED = 100  # the newest emails the page lists; the folder may hold thousands


@dataclass(frozen=True)
class Listed:
    name: str
    date: datetime | None
    to: str
    subject: str


@bp.app_template_global("outbox_shown")
def shown() -> bool:
    """Whether the outbox pages exist: in debug mode, with emails written to files."""
    return bool(current_app.debug and current_app.config.get("MAIL_OUTBOX"))


@bp.route("/outbox/")
def outbox_list():
    folder = _folder_or_404()
    names = sorted((path.name for path in folder.glob("*.eml")), reverse=True)  # newest first
    return render_template(
        "main/outbox.html",
        emails=[_listed(folder / name) for name in names[:LISTED]],
        older=max(len(names) - LISTED, 0),
        folder=folder,
    )


@bp.route("/outbox/<name>")
def outbox_email(name: str):
    _folder_or_404()
    name = outbox.outbox_file(name)
    email = outbox.read_file(name) if name is not None else None
    if email is None:
        abort(404)
    return render_template("main/outbox_email.html", email=email)


def _folder_or_404() -> Path:
    if not shown():
        abort(404)
    return Path(current_app.config["MAIL_OUTBOX"])


def _listed(path: Path) -> Listed:
    """An email's file, its headers alone read."""
    with path.open("rb") as file:
        headers = BytesHeaderParser(policy=default_policy).parse(file)
    date = headers["Date"]
    return Listed(
        name=path.name,
        date=date.datetime if date is not None else None,
        to=str(headers["To"] or ""),
        subject=str(headers["Subject"] or ""),
    )
