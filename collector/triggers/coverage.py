"""Coverage rules: monitoring that is not working is itself an alert.

These run from a periodic job (collector.alerts.jobs), never on ingest: offline and blind are
about time passing without events, and circumvention, tamper and gap events are read in batches
from the events table after a cursor. Candidates go through the same dedup, audit and outbox path
as content alerts.

- offline: not seen (heartbeat or event) for `threshold`; with `term_time_only` only in term.
- blind: the agent reports a capability (windows, keyboard) as unavailable for `threshold`.
- tamper: circumvention events whose kind is in the rule's `kinds` (default: tamper).
- circumvention: the other circumvention events (proxy, VPN, Tor, …), or those in `kinds`.
- gap: the agent dropped at least `min_dropped` events (full spool, rate limit).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collector.store.interface import AlertCandidate, DeviceRecord
from collector.triggers.rules import Rule, RuleSet

COVERAGE_EVENT_KINDS = ("circumvention", "gap")
DEFAULT_TAMPER_KINDS = ("tamper",)


@dataclass
class CoverageResult:
    candidates: list[AlertCandidate]
    # device id -> ISO time it was first seen blind (kept between runs in job state)
    blind_since: dict[str, str] = field(default_factory=dict)


def _candidate(
    rule: Rule,
    *,
    device_id: str,
    key: str,
    at: datetime,
    what: str,
    detail: str,
    event_id: str = "",
    os_user: str = "",
    app: str = "",
) -> AlertCandidate:
    assert rule.severity is not None
    return AlertCandidate(
        dedup_key=f"{rule.id}|{key}"[:300],
        severity=rule.severity,
        category=rule.category or "coverage",
        rule=rule.id,
        source="coverage",
        device_id=device_id,
        os_user=os_user,
        app=app,
        title="",
        matched=what[:128],
        snippet=detail[:256],
        event_id=event_id,
        observed_at=at,
        dedup_window_s=rule.dedup_window.total_seconds(),
        notify=rule.notify,
    )


def _blind_parts(caps: Mapping[str, str]) -> list[str]:
    return [
        f"{k}: {v}"
        for k, v in sorted(caps.items())
        if k in ("windows", "keyboard") and v and v != "ok"
    ]


def _duration(d: timedelta) -> str:
    hours = int(d.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def evaluate_coverage(
    rules: RuleSet,
    devices: Sequence[DeviceRecord],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
    blind_since: Mapping[str, str] | None = None,
) -> CoverageResult:
    """Coverage candidates for the fleet as it is `now` and the coverage events given."""
    out: list[AlertCandidate] = []
    blind = dict(blind_since or {})
    live = [d for d in devices if not d.revoked]
    tamper_kinds: set[str] = set()
    for rule in rules.coverage_rules:
        if rule.coverage is not None and rule.coverage.type == "tamper":
            tamper_kinds.update(rule.coverage.kinds or DEFAULT_TAMPER_KINDS)
    seen_blind: set[str] = set()
    for rule in rules.coverage_rules:
        c = rule.coverage
        assert c is not None
        if c.type == "offline":
            if c.term_time_only and not rules.calendar.in_term(now):
                continue
            for d in live:
                last = d.last_seen_at or d.enrolled_at
                if now - last > c.threshold:
                    what = f"offline {_duration(now - last)}"
                    out.append(
                        _candidate(
                            rule,
                            device_id=d.id,
                            key=d.id,
                            at=now,
                            what=what,
                            detail=f"{d.hostname} last seen {last.isoformat()}",
                        )
                    )
        elif c.type == "blind":
            for d in live:
                parts = _blind_parts(d.capabilities)
                seen_at = d.last_seen_at
                if (
                    not parts
                    or seen_at is None
                    or now - seen_at > max(c.threshold, timedelta(hours=1))
                ):
                    continue  # not blind, or offline (the offline rule covers that)
                seen_blind.add(d.id)
                since = datetime.fromisoformat(blind.setdefault(d.id, now.isoformat()))
                if now - since >= c.threshold:
                    out.append(
                        _candidate(
                            rule,
                            device_id=d.id,
                            key=d.id,
                            at=now,
                            what="blind: " + "; ".join(parts),
                            detail=f"{d.hostname} blind since {since.isoformat()}",
                        )
                    )
        else:
            for e in events:
                det = e.get("detail") or {}
                if c.type == "gap":
                    if e["kind"] != "gap" or int(det.get("dropped", 0)) < c.min_dropped:
                        continue
                    what = f"{det.get('dropped')} events dropped ({det.get('reason', '')})"
                    key = f"{e['device_id']}|{det.get('reason', '')}"
                else:
                    if e["kind"] != "circumvention":
                        continue
                    kind = str(det.get("kind", ""))
                    if c.kinds is not None:
                        wanted = kind in c.kinds
                    elif c.type == "tamper":
                        wanted = kind in DEFAULT_TAMPER_KINDS
                    else:  # circumvention: whatever the tamper rules do not claim
                        wanted = kind not in tamper_kinds
                    if not wanted:
                        continue
                    what = f"{c.type}: {kind}"
                    key = f"{e['device_id']}|{kind}"
                out.append(
                    _candidate(
                        rule,
                        device_id=e["device_id"],
                        key=key,
                        at=e["observed_at"],
                        what=what,
                        detail=str(det.get("detail", ""))[:256],
                        event_id=e["event_id"],
                        os_user=e.get("os_user", ""),
                        app=e.get("app", ""),
                    )
                )
    if any(r.coverage and r.coverage.type == "blind" for r in rules.coverage_rules):
        blind = {k: v for k, v in blind.items() if k in seen_blind}
    return CoverageResult(out, blind)
