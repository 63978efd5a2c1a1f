""" "Send now" and the live progress of a mailing's latest run (owner only)."""

from __future__ import annotations

from datetime import datetime

from flask import flash, jsonify, redirect, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mailer.delivery import dispatch, progress
from mailer.mailings import bp
from mailer.models import Mailing


def _own_mailing(mailing_id: int) -> Mailing:
    return Mailing.owned_by(current_user).filter_by(id=mailing_id).first_or_404()


def mailing_progress(mailing_id: int) -> dict | None:
    """The latest run's counts, as the mailing's page shows them."""
    return _for_viewer(progress.mailing_progress(mailing_id))


def _for_viewer(shown: dict | None) -> dict | None:
    """Adds `paused_until_text` and `finished_at_text`: the pause's end and the run's, in
    the viewer's time zone (and language), as the page writes them."""
    if shown and shown.get("paused_until"):
        until = datetime.fromisoformat(shown["paused_until"])
        shown["paused_until_text"] = format_datetime(until, "yyyy-MM-dd HH:mm")
    if shown and shown.get("finished_at"):
        finished = datetime.fromisoformat(shown["finished_at"])
        shown["finished_at_text"] = format_datetime(finished, "yyyy-MM-dd HH:mm")
    return shown


@bp.route("/mailings/<int:mailing_id>/send-now", methods=["POST"])
@login_required
def mailing_send_now(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    if not mailing.has_clients():
        flash(_("This mailing has no clients to send to: edit it to choose some."), "warning")
        return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))
    try:
        run_id = dispatch.start_forced_run(mailing.id)
    except dispatch.RunInProgress:
        flash(
            _(
                "The latest send has not finished yet, so this one was not started:"
                " its clients would get the email twice. Send again once it has finished."
            ),
            "warning",
        )
        return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))
    if run_id is None:
        flash(_("This mailing cannot send: it is disabled or your account is blocked."), "danger")
    else:
        dispatch.enqueue_run(run_id)
        flash(_("Sending started. The progress below updates by itself."), "success")
    return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))


@bp.route("/mailings/<int:mailing_id>/progress")
@login_required
def mailing_progress_json(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    return jsonify(mailing_progress(mailing.id) or {})
