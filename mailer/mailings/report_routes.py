"""The owner's report: sends, successes and failures per mailing, totals at the top."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from mailer.mailings import bp, report_queries
from mailer.mailings.pagination import page_number


@bp.route("/reports/")
@login_required
def report():
    page = page_number()
    rows, totals = report_queries.report(current_user, page=page)
    pages = max(1, -(-totals.mailings // report_queries.PER_PAGE))
    return render_template(
        "mailings/reports/report.html", rows=rows, totals=totals, page=page, pages=pages
    )
