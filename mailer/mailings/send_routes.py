""" "Send now" and the live progress of a mailing's latest run (owner only)."""

from __future__ import annotations

import logging
from datetime import datetime
from textwrap import shorten

from flask import flash, jsonify, redirect, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mailer import outages
from mailer.delivery import dispatch, progress
from mailer.i18n import add_number_texts
from mailer.mailings import bp
from mailer.mailings.attempt_replies import shown_reply
from mailer.models import Mailing

log = logging.getLogger(__name__)

REPLY_SHOWN_MAX = 200  # characters of a failed try's reply the progress shows


def _own_mailing(mailing_id: int) -> Mailing:
    return Mailing.owned_by(current_user).filter_by(id=mailing_id).first_or_404()


def mailing_progress(mailing_id: int) -> dict | None:
    """The latest run's counts, as the mailing's page shows them."""
    return _for_viewer(progress.mailing_progress(mailing_id))


def _for_viewer(shown: dict | None) -> dict | None:
    """Adds a `<moment>_text` for each moment the page writes (the pause's end, the run's,
    its last try when that is long ago, a failed try's and its next), in the viewer's time
    zone and language, a `<count>_text` for each count, and the failed try's reply in their
    language (`reply_text`)."""
    if not shown:
        return shown
    add_number_texts(shown, *progress.COUNTS)
    _add_texts(shown, "paused_until", "finished_at", "quiet_since")
    if retry := shown["retry"]:
        _add_texts(retry, "failed_at", "next_try_at")
        # The page's sentence puts its own full stop after the reply.
        reply = f"{retry['reply_code'] or ''} {shown_reply(retry['reply'])}".strip().rstrip(".")
        retry["reply_text"] = shorten(reply, REPLY_SHOWN_MAX, placeholder=" …")
    return shown


def _add_texts(moments: dict, *names: str) -> None:
    for name in names:
        if moments.get(name):
            moment = datetime.fromisoformat(moments[name])
            moments[f"{name}_text"] = format_datetime(moment, "yyyy-MM-dd HH:mm")


@bp.route("/mailings/<int:mailing_id>/send-now", methods=["POST"])
@login_required
def mailing_send_now(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    if not mailing.has_clients():
        flash(_("This mailing has no clients to send to: edit it to choose some."), "warning")
        return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))
    if not mailing.has_receiving_clients():
        flash(
            _("All this mailing's clients unsubscribed or bounced: edit it to choose others."),
            "warning",
        )
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
        return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))
    try:
        dispatch.enqueue_run(run_id)
    except outages.REDIS_DOWN as error:
        # The run is committed: the first dispatch tick a minute after Redis is back sends it.
        log.warning("run %s: not queued, Redis unreachable: %s", run_id, outages.reason(error))
        flash(
            _(
                "The send is saved, but the job queue cannot be reached just now. It starts"
                " by itself within a few minutes of the queue being back: no need to press"
                " “Send now” again."
            ),
            "warning",
        )
    else:
        flash(_("Sending started. The progress below updates by itself."), "success")
    return redirect(url_for("mailings.mailing_detail", mailing_id=mailing_id))


@bp.route("/mailings/<int:mailing_id>/progress")
@login_required
def mailing_progress_json(mailing_id: int):
    mailing = _own_mailing(mailing_id)
    return jsonify(mailing_progress(mailing.id) or {})
