"""The trigger rules page (dsl): what raises an alert, and how well each rule has done.

Rules are reviewed YAML files (collector/triggers/rules.py; the collector's `rules` setting adds
the college's own), changed by the DSL with IT and checked with `lantern-collector rules check`
and `rules test` before a restart picks them up. This page shows the rules in force and each
rule's record over the last year: alerts open, closed, and how many were false positives —
the DSL's evidence for tuning a rule that cries wolf.
"""

from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from collector.alerts.store import RulePrecision
from collector.clock import utcnow
from collector.triggers.rules import Rule, load_rules
from collector.web.deps import SafeguardingUser
from collector.web.routes.alerts import AlertsDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)

RECORD_DAYS = 365


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: Rule
    record: RulePrecision | None

    @property
    def watches(self) -> str:
        """What the rule matches, in words."""
        m = self.rule.match
        if self.rule.coverage is not None:
            return f"coverage: {self.rule.coverage.type} over {_span(self.rule.coverage.threshold)}"
        if m is None:
            return "—"
        parts = []
        if m.categories:
            parts.append(", ".join(sorted(c.replace("_", " ") for c in m.categories)))
        if m.severity:
            low, high = m.severity
            parts.append(f"severity {low}" + (f"–{high}" if high != low else "") + "")
        if m.source:
            parts.append(f"{m.source} only")
        if m.age_bands:
            parts.append("age " + ", ".join(sorted(m.age_bands)))
        if m.device_groups:
            parts.append("groups " + ", ".join(sorted(m.device_groups)))
        if m.building_blocks:
            parts.append("after " + ", ".join(m.building_blocks))
        return "; ".join(parts) or ", ".join(sorted(m.kinds))

    @property
    def when(self) -> str:
        r = self.rule
        if r.frequency <= 1:
            return "each time"
        return f"{r.frequency} times within {_span(r.timeframe)}"


def _span(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, _user: SafeguardingUser, alerts: AlertsDep) -> Response:
    settings = getattr(request.app.state, "settings", None)
    rules = load_rules(getattr(settings, "rules", None) or None)
    record = {p.rule: p for p in alerts.precision(since=utcnow() - timedelta(days=RECORD_DAYS))}
    rows = [RuleRow(r, record.get(r.id)) for r in rules.rules if not r.building_block]
    return page(
        request,
        "rules.html",
        {
            "rows": rows,
            "days": RECORD_DAYS,
            "unknown": sorted(set(record) - {r.id for r in rules.rules}),
        },
    )
