"""Cohort bursts: one rule matching on many devices of one site or group within minutes.

A whole class writing an essay on knife crime is one cluster alert at reduced severity, not 25
alerts. A severity 5 match never joins a cluster: it alerts on its own, immediately.

How it runs: every firing of a rule with `cohort:` records (cohort key, device) in the rule state.
When the firing device makes the distinct-device count in `within` reach `min_devices`, the engine
emits a cluster candidate instead of a single one; the store opens the cluster alert and absorbs
the cohort's single alerts that are still `new` (their held notifications are then skipped), and
later firings fold into the cluster. Singles raised before the threshold notify only after the
notification hold (collector.alerts.notify), which is what gives the cluster time to form.
"""

from dataclasses import dataclass

from collector.triggers.rules import Cohort
from collector.triggers.subjects import SubjectFacts


@dataclass(frozen=True, slots=True)
class CohortDecision:
    cluster: bool
    severity: int
    reason: str = ""


def cohort_value(cohort: Cohort, facts: SubjectFacts) -> str:
    """The site or group this firing belongs to; '' when unknown (then no clustering)."""
    if cohort.by == "site":
        return facts.site
    return facts.groups[0] if facts.groups else ""


def cohort_key(rule_id: str, cohort: Cohort, facts: SubjectFacts) -> str:
    value = cohort_value(cohort, facts)
    return f"{rule_id}|{cohort.by}:{value}" if value else ""


def decide(cohort: Cohort, devices: int, severity: int) -> CohortDecision:
    """Cluster when `devices` (distinct, in the window, this one included) reach the threshold."""
    if severity >= 5 or devices < cohort.min_devices:
        return CohortDecision(False, severity)
    reduced = max(1, severity - cohort.reduce_by)
    return CohortDecision(True, reduced, f"cohort of {devices} devices -{severity - reduced}")
