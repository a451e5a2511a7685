"""The annual review of filtering and monitoring provision, for the board (DfE standard: review at
least yearly). One data object, rendered as a printable page (report.html) and a PDF (fpdf2).

Only coverage counts and suppressed alert aggregates go in: nothing identifies a student.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from collector.coverage import CoverageReport
from collector.web.governance import Aggregates, FleetTrend
from collector.web.models import policy_changes


@dataclass(frozen=True, slots=True)
class AnnualReport:
    generated_at: datetime
    coverage: CoverageReport
    alerts: Aggregates
    trend: FleetTrend
    policy_changes: dict[str, int]


def policy_change_counts(engine: Engine, since: datetime) -> dict[str, int]:
    c = policy_changes
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.c.kind, func.count()).where(c.c.at >= since).group_by(c.c.kind)
        ).all()
    return {str(k): int(n) for k, n in rows}


def fmt(value: float | int | None, unit: str = "") -> str:
    """A figure for print; suppressed values read '<5'."""
    if value is None:
        return "<5"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def fmt_median(value: float | None) -> str:
    """A median; None means fewer than 5 alerts, too few to show."""
    return "too few to show" if value is None else f"{value:g} h"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def _table(pdf: Any, headers: list[str], rows: list[list[str]], widths: list[float]) -> None:
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_fill_color(230, 233, 238)
    for h, w in zip(headers, widths, strict=True):
        pdf.cell(w, 7, h, border=1, fill=True)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for row in rows:
        for value, w in zip(row, widths, strict=True):
            pdf.cell(w, 6, value[:60], border=1)
        pdf.ln()
    pdf.ln(3)


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: replace what they cannot draw rather than fail."""
    return (
        text.replace("\u2014", "-")
        .replace("\u2013", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def render_pdf(report: AnnualReport, college: str = "") -> bytes:
    from fpdf import FPDF  # imported on use: only the PDF needs it

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, f"Lantern annual monitoring review - page {self.page_no()}", align="C")

    pdf = _Pdf(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title("Annual review of filtering and monitoring")
    pdf.set_author("Lantern")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        0, 10, _latin("Annual review of filtering and monitoring"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=10)
    a = report.alerts
    period = f"{a.period_start:%d %B %Y} to {a.period_end:%d %B %Y}"
    pdf.multi_cell(
        0,
        5,
        _latin(
            f"{college + ' - ' if college else ''}Period {period}. Generated "
            f"{report.generated_at:%d %B %Y %H:%M} UTC. Counts from 1 to 4 are shown as <5 so "
            "that no student can be identified."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)

    c = report.coverage.total
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "1. Monitoring coverage (now)", new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        ["Figure", "Devices"],
        [
            ["Expected (device management export)", str(c.expected)],
            ["Enrolled", str(c.enrolled)],
            ["Expected but not enrolled", str(c.not_enrolled)],
            ["Reporting in the last 24 hours", str(c.reporting_24h)],
            ["Reporting in the last 7 days", str(c.reporting_7d)],
            ["Blind (no window or keyboard access)", str(c.blind)],
            ["Covered (expected, enrolled and reporting in 7 days)", _pct(c.coverage_percent)],
        ],
        [120, 50],
    )
    if report.coverage.by_site:
        _table(
            pdf,
            ["Site", "Expected", "Enrolled", "Reporting 7 d", "Blind", "Covered"],
            [
                [
                    _latin(r.name),
                    str(r.expected),
                    str(r.enrolled),
                    str(r.reporting_7d),
                    str(r.blind),
                    _pct(r.coverage_percent),
                ]
                for r in report.coverage.by_site
            ],
            [60, 22, 22, 26, 18, 22],
        )

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "2. Devices reporting by month", new_x="LMARGIN", new_y="NEXT")
    t = report.trend
    _table(
        pdf,
        ["Month", "Enrolled", "Reporting", "Share"],
        [
            [mo, str(e), str(r), _pct(p)]
            for mo, e, r, p in zip(
                t.months, t.enrolled, t.reporting, t.reporting_percent, strict=True
            )
        ],
        [40, 40, 40, 40],
    )

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "3. Alerts", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        0,
        5,
        _latin(
            f"Alerts raised: {fmt(a.total)}. Median time to acknowledge: "
            f"{fmt_median(a.median_ack_hours)} (over {fmt(a.acknowledged)} acknowledged). "
            f"Share of closed alerts that were right to fire: {_pct(a.true_positive_rate)}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    _table(
        pdf,
        ["Category", "Alerts"],
        [[c_.replace("_", " "), fmt(n)] for c_, n in a.by_category.items()] or [["(none)", "0"]],
        [100, 40],
    )
    _table(
        pdf,
        ["Month", "Alerts", "Median hours to acknowledge"],
        [
            [mo, fmt(n), "-" if h is None else f"{h:g}"]
            for mo, n, h in zip(a.months, a.by_month, a.median_ack_by_month, strict=True)
        ],
        [40, 40, 70],
    )
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "4. Outcomes of closed alerts", new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        ["Outcome", "Alerts"],
        [[_latin(k), fmt(n)] for k, n in a.outcomes.items()] or [["(none closed)", "0"]],
        [100, 40],
    )
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "5. Changes to what is monitored", new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        ["Change", "Count"],
        [[k.replace("_", " "), str(n)] for k, n in sorted(report.policy_changes.items())]
        or [["(no changes)", "0"]],
        [100, 40],
    )
    return bytes(pdf.output())
