"""Offline tuning: `lantern-collector rules test` replays events through the rules and prints
what each rule did (like wazuh-logtest); `lantern-collector scan` adds the alerts that triggers
would raise to the detection output.

Replay input is JSON Lines, one event per line. Fields (all optional but the content):
    {"kind": "risk_match", "category": "suicide", "severity": 4, "rule": "suicide.kms",
     "matched": "kms", "source": "typed"}
    {"kind": "window_focus", "title": "knife crime essay - Google Docs", "url": "https://…"}
    {"text": "i want to kms", "source": "typed"}       # run through detection first, as the
                                                       # agent would, then replayed as matches
    {"kind": "circumvention", "detail": {"kind": "vpn"}}   # coverage kinds: shown, not evaluated
plus context: "device", "user", "at" (ISO time; default one second after the previous event),
"app", "process", "group", "site", "age_band", "role". State (frequency windows, suppression,
cohorts) carries from line to line, so a file can replay a whole day.
"""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from collector.clock import utcnow
from collector.store.interface import AlertCandidate, EventRow
from collector.triggers.engine import Trace, TriggerEngine
from collector.triggers.rules import RuleSet
from collector.triggers.state import MemoryTriggerState
from collector.triggers.subjects import Facts, StaticResolver
from lantern.detection import Engine
from lantern.ids import uuid7_str

DEFAULT_DEVICE = "replay-device"
DEFAULT_USER = "replay-user"


class ReplayError(ValueError):
    pass


@dataclass
class ReplaySummary:
    events: int = 0
    errors: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    clusters: int = 0


class _Replay:
    def __init__(self, rules: RuleSet, detection: Engine | None, threshold: int) -> None:
        self.resolver = StaticResolver()
        self.engine = TriggerEngine(
            detection, threshold, rules, subjects=self.resolver, notify_delay_s=0
        )
        self.detection = detection
        self.state = MemoryTriggerState()
        self.clock: datetime | None = None
        self.seq = 0

    def rows(self, obj: dict[str, Any]) -> list[EventRow]:
        device = str(obj.get("device") or DEFAULT_DEVICE)
        user = str(obj.get("user") or DEFAULT_USER)
        if obj.get("at"):
            try:
                at = datetime.fromisoformat(str(obj["at"]).replace("Z", "+00:00"))
            except ValueError:
                raise ReplayError(f"`at` is not an ISO time: {obj['at']!r}") from None
            if at.tzinfo is None:
                raise ReplayError("`at` needs a time zone (e.g. 2026-11-25T10:00:00Z)")
        else:
            at = (self.clock + timedelta(seconds=1)) if self.clock else utcnow()
        self.clock = at
        if any(k in obj for k in ("group", "site", "age_band", "role")):
            groups = obj.get("group") or ()
            self.resolver.facts[f"{user}@{device}"] = Facts(
                role=str(obj.get("role", "unknown")),
                age_band=str(obj.get("age_band", "unknown")),
                site=str(obj.get("site", "")),
                groups=tuple([groups] if isinstance(groups, str) else groups),
            )
        kind = obj.get("kind")
        app = str(obj.get("app", ""))
        process = str(obj.get("process", app.lower()))
        title = str(obj.get("title", ""))
        if kind is None:
            if "text" in obj and obj.get("source", "typed") == "typed":
                kind = "typed_text"
            elif "category" in obj:
                kind = "risk_match"
            else:
                kind = "window_focus"
                title = title or str(obj.get("text", ""))

        def row(kind: str, detail: dict[str, Any]) -> EventRow:
            self.seq += 1
            return EventRow(
                str(obj.get("id") or uuid7_str()),
                device,
                self.seq,
                kind,
                at,
                at,
                user,
                app,
                title,
                detail,
            )

        if kind == "typed_text":
            if self.detection is None:
                raise ReplayError("typed text needs the detection engine")
            return [
                row(
                    "risk_match",
                    {
                        "category": h.category,
                        "severity": h.severity,
                        "rule": h.rule,
                        "matched": h.matched,
                        "snippet": h.snippet,
                        "source": "typed",
                        "process": process,
                    },
                )
                for h in self.detection.scan(str(obj["text"]), "typed")
            ]
        if kind == "risk_match":
            try:
                severity = int(obj.get("severity", 0))
            except (TypeError, ValueError):
                raise ReplayError("severity must be a number 1-5") from None
            if not obj.get("category") or not 1 <= severity <= 5:
                raise ReplayError("a risk_match needs a category and a severity 1-5")
            return [
                row(
                    "risk_match",
                    {
                        "category": str(obj["category"]),
                        "severity": severity,
                        "rule": str(obj.get("rule", "")),
                        "matched": str(obj.get("matched", "")),
                        "snippet": str(obj.get("snippet", "")),
                        "source": str(obj.get("source", "typed")),
                        "process": process,
                    },
                )
            ]
        if kind == "window_focus":
            return [
                row(
                    "window_focus",
                    {
                        "process": process,
                        "page_title": title,
                        "url": str(obj.get("url", "")),
                        "browser": "",
                    },
                )
            ]
        if kind in ("circumvention", "gap", "agent_state"):
            return [row(kind, dict(obj.get("detail") or {}))]
        raise ReplayError(f"unknown kind {kind!r}")

    def run(self, rows: list[EventRow]) -> tuple[list[AlertCandidate], list[Trace]]:
        return self.engine.explain(rows, self.state)


def _describe(r: EventRow) -> str:
    d = r.detail
    if r.kind == "risk_match":
        what = f'{d["category"]}/{d["severity"]} {d.get("rule", "")} "{d.get("matched", "")}"'
    elif r.kind == "window_focus":
        what = f'title "{r.title[:60]}"' + (f" url {d['url']}" if d.get("url") else "")
    else:
        what = json.dumps(d)[:80]
    return f"{r.kind} {what} — {r.os_user} on {r.device_id} at {r.observed_at.isoformat()}"


def replay(
    lines: Iterable[str],
    rules: RuleSet,
    out: TextIO,
    *,
    detection: Engine | None = None,
    threshold: int = 3,
    as_json: bool = False,
) -> ReplaySummary:
    """Replay JSON Lines events through the rules; write what fired (text or JSON Lines)."""
    rp = _Replay(rules, detection, threshold)
    summary = ReplaySummary()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ReplayError("each line must be a JSON object")
            rows = rp.rows(obj)
        except (ValueError, ReplayError) as exc:
            summary.errors += 1
            if as_json:
                out.write(json.dumps({"line": n, "error": str(exc)}) + "\n")
            else:
                out.write(f"line {n}: error: {exc}\n")
            continue
        for r in rows:
            summary.events += 1
            candidates, trace = rp.run([r])
            for c in candidates:
                summary.alerts[c.rule] += 1
                summary.clusters += c.kind == "cluster"
            if as_json:
                out.write(
                    json.dumps(
                        {
                            "line": n,
                            "event": r.event_id,
                            "kind": r.kind,
                            "alerts": [
                                {
                                    "rule": c.rule,
                                    "severity": c.severity,
                                    "kind": c.kind,
                                    "category": c.category,
                                    "dedup_key": c.dedup_key,
                                    "reasons": list(c.reasons),
                                }
                                for c in candidates
                            ],
                            "trace": [
                                {
                                    "rule": t.rule,
                                    "outcome": t.outcome,
                                    "severity": t.severity,
                                    "detail": t.detail,
                                }
                                for t in trace
                            ],
                        }
                    )
                    + "\n"
                )
                continue
            out.write(f"**Line {n}: {_describe(r)}\n")
            if not trace:
                out.write("    no rule matched\n")
            for t in trace:
                if t.outcome in ("fired", "cluster"):
                    label = "ALERT" if t.outcome == "fired" else "CLUSTER ALERT"
                    out.write(
                        f"    {t.rule}: {label} severity {t.severity}"
                        + (f" ({t.detail})" if t.detail else "")
                        + "\n"
                    )
                elif t.outcome == "block":
                    out.write(f"    {t.rule}: building block matched\n")
                else:
                    out.write(
                        f"    {t.rule}: {t.outcome.replace('_', ' ')}"
                        + (f" {t.severity}" if t.outcome == "below_threshold" else "")
                        + (f" ({t.detail})" if t.detail else "")
                        + "\n"
                    )
    if not as_json:
        out.write(
            f"\n{summary.events} events, {sum(summary.alerts.values())} alerts"
            f" ({summary.clusters} cluster), {summary.errors} errors\n"
        )
        for rule, count in summary.alerts.most_common():
            out.write(f"  {count:5d}  {rule}\n")
    out.flush()
    return summary


def scan_with_triggers(
    stdin: TextIO, stdout: TextIO, detection: Engine, rules: RuleSet, threshold: int = 3
) -> int:
    """`scan` with triggers: the detection output line plus the alerts rules would raise.

    Input lines as for `scan` ({"id", "text", "source"}), optionally with replay context fields
    (device, user, at, group, site, age_band, role). Returns the number of bad lines.
    """
    from lantern.detection.scan import scan_record

    rp = _Replay(rules, detection, threshold)
    errors = 0
    for line in stdin:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            out = scan_record(record, detection)
            source = record.get("source") or "typed"
            event = {k: v for k, v in record.items() if k != "id"}
            if source == "title":
                event |= {"kind": "window_focus", "title": str(record.get("text") or "")}
            rows = rp.rows(event)
            candidates, _ = rp.run(rows)
        except (ValueError, ReplayError) as exc:
            errors += 1
            out = {"id": None, "error": f"bad input line: {exc}"[:200]}
        else:
            out["alerts"] = [
                {
                    "rule": c.rule,
                    "severity": c.severity,
                    "kind": c.kind,
                    "category": c.category,
                    "reasons": list(c.reasons),
                }
                for c in candidates
            ]
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    stdout.flush()
    return errors
