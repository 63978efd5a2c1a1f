"""The owner's report: what became of each mailing's emails, totals at the top."""

from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user, login_required

from mailer.mailings import bp, report_queries
from mailer.mailings.pagination import page_number


@bp.route("/reports/")
@login_required
def report():
    page = page_number()
    rows, totals = report_queries.report(current_user, page=page)
    if page > 1 and not rows:
        abort(404)  # as on every list: only page 1 says "nothing to report yet"
    pages = max(1, -(-totals.mailings // report_queries.PER_PAGE))
    return render_template(
        "mailings/reports/report.html", rows=rows, totals=totals, page=page, pages=pages
    )
