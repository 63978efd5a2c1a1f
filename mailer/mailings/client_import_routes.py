"""The owner's import of clients from a CSV file or a workbook: upload, preview, confirm
or cancel, then its progress and report on the same page, its own address.

An import's page shows what its row's status says: the preview of a pending upload
(a workbook's sheet chosen by `?sheet=`), the progress of a queued or running import,
the report of a done one, the reason of a failed one.
"""

from __future__ import annotations

import logging

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import or_

from mailer import outages
from mailer.extensions import db
from mailer.i18n import add_number_texts
from mailer.ids import an_id
from mailer.mailings import bp, client_import, mailing_queries
from mailer.mailings.client_forms import ClientImportForm
from mailer.mailings.client_import import background
from mailer.models import ClientImport, Mailing

log = logging.getLogger(__name__)

SHEET_FIELD = "sheet"  # a workbook's sheet, by its number: the preview's, then the import's
COLUMN_FIELD = "column-{}"  # the column a field is read from (client_import.FIELDS), by hand
ROWS_FIELD = "rows"  # the preview's count of rows, for the progress bar
TICKS_CARRIED = "ticks"  # sent by a preview's sheet or columns form with its mailings' ticks
# The upload page lists the owner's imports: the newest few, the others (the reports kept,
# uploads.ENDED_KEPT_PER_OWNER, and those under way) folded below them.
RECENT_IMPORTS = 5
IMPORTS_LISTED = 50


@bp.route("/clients/import", methods=["GET", "POST"])
@login_required
def client_import_upload():
    form = ClientImportForm()
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            layout, preview = client_import.examine(data)
        except client_import.UnreadableFile as error:
            form.file.errors.append(str(error))
        else:
            if preview.total:
                upload = client_import.keep_upload(
                    owner=current_user, data=data, filename=form.file.data.filename or ""
                )
                db.session.commit()
                # Shown at once, not through a redirect: a big workbook takes seconds to read.
                return _preview_page(upload, layout, preview)
            form.file.errors.append(_("The file has no rows to import."))
    recent = [
        (task, background.progress(task))
        for task in client_import.latest_imports(current_user, IMPORTS_LISTED)
    ]
    return render_template(
        "mailings/clients/import.html",
        form=form,
        recent=recent[:RECENT_IMPORTS],
        older=recent[RECENT_IMPORTS:],
    )


def _own_import(import_id: int) -> ClientImport:
    return ClientImport.owned_by(current_user).filter_by(id=import_id).first_or_404()


@bp.route("/clients/imports/<int:import_id>")
@login_required
def client_import_page(import_id: int):
    task = _own_import(import_id)
    if task.status == "pending":
        sheet = request.args.get(SHEET_FIELD, type=int)
        columns = _chosen_columns(request.args)
        if columns and (problem := client_import.column_problem(columns)):
            flash(problem, "danger")
            columns = None  # the columns the header names, as before the choice
        return _preview_of_sheet(task, sheet, columns)
    return render_template(
        "mailings/clients/import_status.html", task=task, progress=_progress(task)
    )


@bp.route("/clients/imports/<int:import_id>/progress")
@login_required
def client_import_progress(import_id: int):
    return jsonify(_progress(_own_import(import_id)))


def _progress(task: ClientImport) -> dict:
    """The import's progress, its counts also as the viewer writes numbers (`<count>_text`:
    "340,000" in English, "340 000" in Russian)."""
    return add_number_texts(background.progress(task), "rows", "total")


def _chosen_columns(values) -> dict[str, int] | None:
    """The columns chosen on the preview, when its form sent them (`values`: the request's
    args or form); None: those the header names."""
    names = {field: COLUMN_FIELD.format(field) for field in client_import.FIELDS}
    if not any(name in values for name in names.values()):
        return None
    return {field: values.get(name, -1, type=int) for field, name in names.items()}


def _preview_of_sheet(upload: ClientImport, chosen: int | None, columns: dict | None = None):
    """The preview of a pending upload, read again from the kept file: of a workbook's
    sheet number `chosen` (None: its first with rows), its fields read from `columns` when
    they were chosen."""
    try:
        layout, preview = client_import.examine(upload.data, chosen, columns)
    except client_import.UnreadableFile as error:
        flash(str(error), "danger")
        if chosen is None:
            return redirect(url_for("mailings.client_import_upload"))
        # A sheet chosen in the menu that cannot be imported: the preview it was chosen on.
        return redirect(url_for("mailings.client_import_page", import_id=upload.id))
    return _preview_page(upload, layout, preview)


def _preview_page(
    upload: ClientImport, layout: client_import.FileLayout, preview: client_import.Preview
) -> str:
    """The preview; its mailings ticked as on the preview it was asked from, when that one's
    sheet or columns form carried them (mailer.js), else those that take new clients."""
    taking = Mailing.takes_new_clients.is_(True)
    if TICKS_CARRIED in request.args:
        ticked = set(_ticked(request.args))
        offered = or_(taking, Mailing.id.in_(ticked))
        mailings = mailing_queries.mailing_choices(current_user, also=offered)
    else:
        mailings = mailing_queries.mailing_choices(current_user, also=taking)
        ticked = {mailing.id for mailing in mailings if mailing.takes_new_clients}
    return render_template(
        "mailings/clients/import_preview.html",
        upload=upload,
        sheet_field=SHEET_FIELD,
        column_field=COLUMN_FIELD,
        rows_field=ROWS_FIELD,
        layout=layout,
        sheet=preview.sheet,
        preview=preview,
        mailings=mailings,
        choice_limit=mailing_queries.MAILING_CHOICE_LIMIT,
        ticked=ticked,
        ticks_carried=TICKS_CARRIED,
    )


def _ticked(values) -> list[int]:
    """The ids of the mailings ticked in a form (`values`: the request's args or form)."""
    return values.getlist("mailing_ids", type=an_id)


@bp.route("/clients/imports/<int:import_id>/confirm", methods=["POST"])
@login_required
def client_import_confirm(import_id: int):
    upload = _own_import(import_id)
    columns = _chosen_columns(request.form)
    if columns and (problem := client_import.column_problem(columns)):  # not as shown
        flash(problem, "danger")
        return redirect(url_for("mailings.client_import_page", import_id=import_id))
    # The ticked mailings that are still the owner's (the worker checks them again).
    mailing_ids = mailing_queries.owned_mailing_ids(current_user, _ticked(request.form))
    queued = background.queue(
        upload,
        sheet=request.form.get(SHEET_FIELD, type=int),
        columns=columns,
        rows=request.form.get(ROWS_FIELD, 0, type=int),
        mailing_ids=mailing_ids,
    )
    if queued:
        db.session.commit()
        _start(upload, undo="pending")
    # Pressed twice (two tabs): the page shows the import the first press started.
    return redirect(url_for("mailings.client_import_page", import_id=import_id))


@bp.route("/clients/imports/<int:import_id>/again", methods=["POST"])
@login_required
def client_import_again(import_id: int):
    task = _own_import(import_id)
    was = background.again(task)
    if was is not None:
        db.session.commit()
        _start(task, undo=was)
    return redirect(url_for("mailings.client_import_page", import_id=import_id))


def _start(task: ClientImport, *, undo: str) -> None:
    """Give the queued import to a worker; when the queue cannot be reached, it goes back
    to `undo` (its page offers the same button again) and the owner is told."""
    try:
        background.start(task)
    except outages.REDIS_DOWN as error:
        log.warning(
            "client import %s: not queued, Redis unreachable: %s", task.id, outages.reason(error)
        )
        background.unqueue(task, to=undo)
        db.session.commit()
        flash(_("The import could not be handed to a worker just now; try again."), "danger")


@bp.route("/clients/imports/<int:import_id>/cancel", methods=["POST"])
@login_required
def client_import_cancel(import_id: int):
    task = _own_import(import_id)
    if task.status == "pending":
        client_import.discard_upload(task)
    elif not background.cancel(task):  # neither queued nor lost: running, or ended
        return _stop(task)
    db.session.commit()
    return _cancelled()


def _stop(task: ClientImport):
    """Cancel a running import (background.stop); an ended one is left as it is."""
    back = redirect(url_for("mailings.client_import_page", import_id=task.id))
    if task.status != "running":  # a page left open in another tab
        flash(_("This import has ended; it can no longer be cancelled."), "warning")
        return back
    try:
        stopped = background.stop(task)
    except outages.REDIS_DOWN as error:
        log.warning(
            "client import %s: not asked to stop, Redis unreachable: %s",
            task.id,
            outages.reason(error),
        )
        flash(_("The import could not be cancelled just now; try again."), "danger")
        return back
    if stopped == "ended":
        flash(_("The import ended before it could be cancelled: here is its report."), "warning")
        return back
    if stopped == "stopping":
        flash(_("The import is being cancelled; nothing of it will be kept."), "info")
        return redirect(url_for("mailings.client_list"))
    return _cancelled()


def _cancelled():
    flash(_("Import cancelled; nothing was imported."), "info")
    return redirect(url_for("mailings.client_list"))
