"""The owner's import of clients from a CSV file or a workbook: upload and preview, confirm,
cancel."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mailer.extensions import db
from mailer.mailings import bp, client_import, mailing_queries
from mailer.mailings.client_forms import ClientImportForm
from mailer.main.stats import counts_changed
from mailer.models import Mailing

# The preview's confirm and cancel forms name their own upload: previews open in
# two tabs each import their own file.
UPLOAD_FIELD = "upload"
SHEET_FIELD = "sheet"  # a workbook's sheet, by its number: the preview's, then the import's
# The report lists this many rejected lines; the count covers them all.
REPORT_MAX_LINES = 1000


@bp.route("/clients/import", methods=["GET", "POST"])
@login_required
def client_import_upload():
    form = ClientImportForm()
    if form.validate_on_submit():
        upload = form.file.data.read()
        try:
            data, sheet = client_import.as_csv(upload)
            parsed = client_import.parse(data)
        except client_import.UnreadableFile as error:
            form.file.errors.append(str(error))
            return render_template("mailings/clients/import.html", form=form)
        if not parsed.rows:
            form.file.errors.append(_("The file has no rows to import."))
        else:
            token = client_import.keep_upload(owner=current_user, data=upload)
            return _preview_page(parsed, sheet, token=token, filename=form.file.data.filename)
    return render_template("mailings/clients/import.html", form=form)


@bp.route("/clients/import/sheet", methods=["POST"])
@login_required
def client_import_sheet():
    """The preview of a workbook again, of the sheet chosen on it."""
    pending = _pending_upload()
    if pending is None:
        return redirect(url_for("mailings.client_import_upload"))
    token, data, sheet = pending
    try:
        parsed = client_import.parse(data)
    except client_import.UnreadableFile as error:
        flash(str(error), "danger")
        return redirect(url_for("mailings.client_import_upload"))
    return _preview_page(parsed, sheet, token=token, filename=request.form.get("filename", ""))


def _pending_upload() -> tuple[str, bytes, client_import.Sheet | None] | None:
    """The upload the sent preview form names, as CSV (a workbook's sheet it names): its
    token, data and sheet. None, with a flash saying why, when it expired or was imported,
    or the sheet cannot be read."""
    token = request.form.get(UPLOAD_FIELD, "")
    upload = client_import.pending_upload(owner=current_user, token=token)
    if upload is None:
        flash(
            _("That upload has expired or was already imported. Upload the file again."), "warning"
        )
        return None
    try:
        data, sheet = client_import.as_csv(upload, request.form.get(SHEET_FIELD, type=int))
    except client_import.UnreadableFile as error:
        flash(str(error), "danger")
        return None
    return token, data, sheet


def _preview_page(
    parsed: client_import.ParsedFile,
    sheet: client_import.Sheet | None,
    *,
    token: str,
    filename: str,
) -> str:
    taking = Mailing.takes_new_clients.is_(True)
    mailings = mailing_queries.mailing_choices(current_user, also=taking)
    return render_template(
        "mailings/clients/import_preview.html",
        token=token,
        upload_field=UPLOAD_FIELD,
        sheet_field=SHEET_FIELD,
        parsed=parsed,
        sheet=sheet,
        preview=client_import.preview(parsed),
        shown_max=REPORT_MAX_LINES,
        filename=filename,
        mailings=mailings,
        choice_limit=mailing_queries.MAILING_CHOICE_LIMIT,
        ticked={mailing.id for mailing in mailings if mailing.takes_new_clients},
    )


@bp.route("/clients/import/confirm", methods=["POST"])
@login_required
def client_import_confirm():
    pending = _pending_upload()  # a workbook's sheet read again: the one the preview showed
    if pending is None:
        return redirect(url_for("mailings.client_import_upload"))
    token, data, _sheet = pending
    # The ticked mailings that are still the owner's: one deleted meanwhile is left out.
    mailing_ids = mailing_queries.owned_mailing_ids(
        current_user, request.form.getlist("mailing_ids", type=int)
    )
    report = client_import.import_rows(
        owner=current_user, rows=client_import.read_rows(data), mailing_ids=mailing_ids
    )
    db.session.commit()
    client_import.refresh_statistics(report.imported)
    client_import.discard_upload(owner=current_user, token=token)
    counts_changed()
    return render_template(
        "mailings/clients/import_report.html",
        report=report,
        shown=report.rejected[:REPORT_MAX_LINES],
        joined=len(mailing_ids) if report.imported else 0,
    )


@bp.route("/clients/import/cancel", methods=["POST"])
@login_required
def client_import_cancel():
    client_import.discard_upload(owner=current_user, token=request.form.get(UPLOAD_FIELD, ""))
    flash(_("Import cancelled; nothing was imported."), "info")
    return redirect(url_for("mailings.client_list"))
