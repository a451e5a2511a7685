"""Turn newly stored events into alert candidates.

Typed-text matches arrive already matched on the device; window titles are matched here with the
same detection engine. This is the walking-skeleton rule set: severity at or above the threshold
alerts; repeats of one rule for one user on one device fold into one open alert.
"""

from collections.abc import Sequence

from collector.store.interface import AlertCandidate, EventRow
from lantern.detection import Engine


class TriggerEngine:
    def __init__(self, detection: Engine, alert_threshold: int = 3) -> None:
        self.detection = detection
        self.alert_threshold = alert_threshold

    def __call__(self, rows: Sequence[EventRow]) -> list[AlertCandidate]:
        candidates: list[AlertCandidate] = []
        for row in rows:
            if row.kind == "risk_match":
                candidates.extend(self._from_match(row))
            elif row.kind == "window_focus":
                candidates.extend(self._from_title(row))
        return candidates

    def _from_match(self, row: EventRow) -> list[AlertCandidate]:
        d = row.detail
        severity = int(d.get("severity", 0))
        if severity < self.alert_threshold:
            return []
        return [
            _candidate(
                row,
                severity=severity,
                category=str(d.get("category", "")),
                rule=str(d.get("rule", "")),
                source=str(d.get("source", "typed")),
                matched=str(d.get("matched", "")),
                snippet=str(d.get("snippet", "")),
            )
        ]

    def _from_title(self, row: EventRow) -> list[AlertCandidate]:
        text = str(row.detail.get("page_title") or row.title)
        if not text:
            return []
        return [
            _candidate(
                row,
                severity=hit.severity,
                category=hit.category,
                rule=hit.rule,
                source="title",
                matched=hit.matched,
                snippet=hit.snippet,
            )
            for hit in self.detection.scan(text, "title")
            if hit.severity >= self.alert_threshold
        ]


def _candidate(
    row: EventRow,
    *,
    severity: int,
    category: str,
    rule: str,
    source: str,
    matched: str,
    snippet: str,
) -> AlertCandidate:
    return AlertCandidate(
        dedup_key=f"{row.device_id}|{row.os_user}|{rule}",
        severity=severity,
        category=category,
        rule=rule,
        source=source,
        device_id=row.device_id,
        os_user=row.os_user,
        app=row.app,
        title=row.title,
        matched=matched[:128],
        snippet=snippet[:256],
        event_id=row.event_id,
        observed_at=row.observed_at,
    )
