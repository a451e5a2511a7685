"""The weekly safeguarding report: incidents by category and severity, what is still open, time
to acknowledge, outcomes and a coverage summary. Kept as data (reports table, REST, console) and
emailed to safeguarding staff. Aggregates only: it names no student and no device.
"""

import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from collector.alerts.config import AlertsConfig
from collector.alerts.store import AlertStore
from collector.coverage import FleetFacts, coverage_report, fleet_status
from collector.store.interface import AlertRecord, DeviceRecord
from collector.triggers.calendar import DAY_NAMES, Calendar

KIND = "weekly"


def last_week(calendar: Calendar, now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 to Monday 00:00 (college time) of the last complete week before `now`."""
    local = calendar.local(now)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday - timedelta(days=7), monday  # wall-clock arithmetic: right across DST


def _minutes(d: timedelta) -> float:
    return round(d.total_seconds() / 60, 1)


def _tta(alerts: Sequence[AlertRecord]) -> dict[str, Any]:
    times = [a.acknowledged_at - a.created_at for a in alerts if a.acknowledged_at]
    mins = sorted(_minutes(t) for t in times)
    out: dict[str, Any] = {"acknowledged": len(mins), "unacknowledged": len(alerts) - len(mins)}
    if mins:
        out |= {
            "median_minutes": statistics.median(mins),
            "p90_minutes": mins[min(len(mins) - 1, int(0.9 * len(mins)))],
            "max_minutes": mins[-1],
        }
    return out


def build_weekly(
    alerts: AlertStore,
    devices: Sequence[DeviceRecord],
    start: datetime,
    end: datetime,
    now: datetime,
    heartbeat: timedelta = timedelta(seconds=30),
) -> dict[str, Any]:
    raised = alerts.alerts_between(start, end)
    content = [a for a in raised if a.category != "coverage"]
    coverage = [a for a in raised if a.category == "coverage"]
    still_open = alerts.open_alerts(end)
    closed = alerts.closed_between(start, end)
    sev5 = [a for a in content if a.severity == 5]
    # The console's definitions (collector/coverage.py): machines, not enrolments; "reporting"
    # is events stored, apart from connected; missing is silent for 7 days.
    fleet = coverage_report(fleet_status(devices, FleetFacts(end, heartbeat)), []).total
    return {
        "kind": KIND,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "generated_at": now.isoformat(),
        "alerts": {
            "total": len(content),
            "clusters": sum(1 for a in content if a.kind == "cluster"),
            "by_category": dict(Counter(a.category for a in content).most_common()),
            "by_severity": {
                str(s): n
                for s, n in sorted(Counter(a.severity for a in content).items(), reverse=True)
            },
            "by_rule": dict(Counter(a.rule for a in content).most_common()),
        },
        "still_open": {
            "total": len(still_open),
            "by_severity": {
                str(s): n
                for s, n in sorted(Counter(a.severity for a in still_open).items(), reverse=True)
            },
            "by_status": dict(Counter(a.status for a in still_open)),
            "oldest_days": max(
                (round((end - a.created_at).total_seconds() / 86400, 1) for a in still_open),
                default=0,
            ),
        },
        "time_to_acknowledge": {"all": _tta(content), "severity_5": _tta(sev5)},
        "outcomes": dict(Counter(a.outcome for a in closed if a.outcome).most_common()),
        "coverage": {
            "devices": fleet.enrolled,
            "online": fleet.online,
            "reporting_24h": fleet.reporting_24h,
            "reporting_7d": fleet.reporting_7d,
            "missing": fleet.missing,
            "never_connected": fleet.never_connected,
            "blind": fleet.blind,
            "coverage_alerts": dict(Counter(a.rule for a in coverage).most_common()),
        },
    }


def render_weekly(report: dict[str, Any], console_url: str) -> tuple[str, str]:
    """(subject, plain-text body) for the email."""
    p = report["period"]
    start, end = p["start"][:10], (datetime.fromisoformat(p["end"]) - timedelta(days=1)).date()
    a, o, t, c = (
        report["alerts"],
        report["still_open"],
        report["time_to_acknowledge"],
        report["coverage"],
    )
    lines = [
        f"Lantern weekly safeguarding report, {start} to {end}",
        "",
        f"Alerts raised: {a['total']} ({a['clusters']} cohort clusters)",
        "  by severity: " + (", ".join(f"{s}: {n}" for s, n in a["by_severity"].items()) or "-"),
        "  by category: " + (", ".join(f"{k}: {n}" for k, n in a["by_category"].items()) or "-"),
        f"Still open: {o['total']} (oldest {o['oldest_days']} days)",
        "  by severity: " + (", ".join(f"{s}: {n}" for s, n in o["by_severity"].items()) or "-"),
    ]
    for label, key in (("all alerts", "all"), ("severity 5", "severity_5")):
        tt = t[key]
        if tt.get("acknowledged"):
            lines.append(
                f"Time to acknowledge ({label}): median {tt['median_minutes']} min, "
                f"90th percentile {tt['p90_minutes']} min, "
                f"{tt['unacknowledged']} not yet acknowledged"
            )
    lines.append(
        "Outcomes recorded: "
        + (", ".join(f"{k}: {n}" for k, n in report["outcomes"].items()) or "none")
    )
    lines += [
        f"Coverage: {c['reporting_24h']} of {c['devices']} devices reporting in the last "
        f"24 h ({c['reporting_7d']} in 7 days); {c['missing']} missing (silent 7 days); "
        f"{c['blind']} blind; {c['never_connected']} never connected",
        "",
        f"Full report and alerts: {console_url.rstrip('/')}/reports/weekly",
    ]
    return f"[Lantern] Weekly safeguarding report {start} to {end}", "\n".join(lines) + "\n"


def weekly_slot_passed(config: AlertsConfig, calendar: Calendar, now: datetime) -> bool:
    """True once this week's sending time (weekday and hour, college time) has passed."""
    local = calendar.local(now)
    day = DAY_NAMES.index(config.weekly_report.weekday.lower()[:3])
    return (local.weekday(), local.hour) >= (day, config.weekly_report.hour)


def run_weekly_report(
    alerts: AlertStore,
    devices: Sequence[DeviceRecord],
    config: AlertsConfig,
    calendar: Calendar,
    now: datetime,
    force: bool = False,
) -> dict[str, Any] | None:
    """Make last week's report once (any replica), store it and queue the emails.

    Returns the report when this call made it, None when it was not due or already made.
    """
    if not force and not weekly_slot_passed(config, calendar, now):
        return None
    start, end = last_week(calendar, now)
    report = build_weekly(alerts, devices, start, end, now)
    if not alerts.save_report(KIND, start, end, report, now):
        return None
    subject, text = render_weekly(report, config.console_url)
    targets = [("email", r) for r in config.weekly_report.recipients]
    if targets:
        alerts.enqueue_report(
            targets,
            {
                "subject": subject,
                "text": text,
                "link": f"{config.console_url.rstrip('/')}/reports/weekly",
            },
            now,
        )
    return report
