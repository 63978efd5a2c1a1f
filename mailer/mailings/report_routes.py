"""The owner's report: sends, successes and failures per mailing, totals at the top."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user, login_required

from mailer.mailings import bp, report_queries


@bp.route("/reports/")
@login_required
def report():
    page = max(request.args.get("page", 1, type=int), 1)
    rows, totals = report_queries.report(current_user, page=page)
    pages = max(1, -(-totals.mailings // report_queries.PER_PAGE))
    return render_template(
        "mailings/reports/report.html", rows=rows, totals=totals, page=page, pages=pages
    )
