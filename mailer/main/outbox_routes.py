"""The Outbox page, while mailer is tried on one's own machine (`make run`: debug mode and no
mail server): every email mailer wrote to MAIL_OUTBOX instead of sending it (confirmation
and reset links, test emails, the mailings' emails), newest first, each read back as a mail
program shows it. So trying mailer needs no mail program: registering, the confirmation
link is a click away.

Outside debug mode these pages do not exist (404): a server's outbox holds its users'
emails, for no visitor to read.
"""

from __future__ import annotations

from flask import abort, render_template

from mailer.mailings import outbox
from mailer.main import bp

LISTED = 100  # the newest emails the page lists; the folder may hold thousands


# The footer links the page wherever it exists.
bp.add_app_template_global(outbox.browsable, "outbox_shown")


@bp.route("/outbox/")
def outbox_list():
    if not outbox.browsable():
        abort(404)
    emails, older = outbox.newest(LISTED)
    return render_template("main/outbox.html", emails=emails, older=older)


@bp.route("/outbox/<name>")
def outbox_email(name: str):
    if not outbox.browsable():
        abort(404)
    email = outbox.read_file(outbox.outbox_file(name))
    if email is None:
        abort(404)
    return render_template("main/outbox_email.html", email=email)
