"""The owner's report: what became of each mailing's emails, totals at the top; over a
period of days if asked, and as CSV."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask_login import current_user, login_required

from mailer.i18n import select_timezone
from mailer.mailings import bp, report_queries
from mailer.mailings.csv_export import csv_response, stamped
from mailer.mailings.pagination import list_args, page_number
from mailer.mailings.periods import DateRangeForm, Period

CSV_HEADER = [
    "mailing_id",
    "mailing",
    "status",
    *report_queries.FIGURES,
    "last_run",
]


def _period(form: DateRangeForm) -> Period:
    return Period.of_days(*form.valid_dates(), select_timezone())


@bp.route("/reports/")
@login_required
def report():
    form = DateRangeForm(request.args)
    page = page_number()
    rows, totals = report_queries.report(current_user, page=page, period=_period(form))
    if page > 1 and not rows:
        abort(404)  # as on every list: only page 1 says "nothing to report yet"
    pages = max(1, -(-totals.mailings // report_queries.PER_PAGE))
    return render_template(
        "mailings/reports/report.html",
        rows=rows,
        totals=totals,
        page=page,
        pages=pages,
        form=form,
        dates=list_args("date_from", "date_to"),
    )


@bp.route("/reports.csv")
@login_required
def report_export():
    """Every mailing's row of the report over the same period, as CSV."""
    rows = report_queries.every_row(current_user, period=_period(DateRangeForm(request.args)))
    zone = ZoneInfo(select_timezone())
    lines = [
        [
            row.mailing_id,
            row.title,
            "disabled" if not row.is_active else row.status,
            *(getattr(row, name) for name in report_queries.FIGURES),
            row.last_run.astimezone(zone).isoformat(timespec="seconds") if row.last_run else "",
        ]
        for row in rows
    ]
    return csv_response([CSV_HEADER, *lines], stamped("report"))
