"""Turn newly stored events into alert candidates, by the rules in collector/triggers/rules/.

Typed-text matches arrive already matched on the device; window titles are matched here with the
same detection engine. Each event yields signals: a risk_match is one signal; a window_focus gives
one signal per detection hit in its title, or one bare signal when nothing matched (rules on app,
domain or title pattern alone still see it). A rule is evaluated at most once per event.

Semantics (docs/alerts.md has the long form):
- frequency N / timeframe T / group_by G: every matching event is counted under the key made of
  G's values; the rule fires on the event that makes the count of matches with observed time in
  [t - T, t] reach N, and on every further match while the count stays ≥ N (those fold into the
  open alert by dedup). N = 1 fires on every match.
- suppress_for S: after firing for a key, matches for that key within S are counted but silent.
- building blocks never alert; `building_blocks:` in a match requires them to match the same
  event; `after: {rule, within}` requires the block to have matched the same key within the window.
- severity: the rule's, else the match's; then raised (out of hours, age band, repetition),
  capped at 5; below the alert threshold nothing is raised.
"""

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from collector.store.interface import AlertCandidate, EventRow, StatefulTriggers, TriggerState
from collector.triggers import cohort as cohorts
from collector.triggers.rules import Match, Rule, RuleSet, load_rules
from collector.triggers.state import MemoryTriggerState
from collector.triggers.subjects import UNKNOWN, SubjectFacts, SubjectResolver
from lantern.detection import Engine

# Notification hold for alerts that could still become part of a cohort (severity < 5 only).
DEFAULT_NOTIFY_DELAY_S = 120.0


@dataclass(frozen=True, slots=True)
class Signal:
    category: str
    severity: int
    lexicon_rule: str
    matched: str
    snippet: str
    source: str


BARE = Signal("", 0, "", "", "", "")


@dataclass(frozen=True, slots=True)
class Trace:
    """What one rule did with one event (for `rules test` and debugging)."""

    event_id: str
    rule: str
    outcome: str  # fired | cluster | counting | suppressed | waiting | below_threshold | block
    severity: int = 0
    detail: str = ""


@dataclass
class _BareIndex:
    """Rules that can match a bare event, bucketed so an event only checks plausible ones: by
    domain (the host and each parent domain are looked up), by exact app/process name, behind
    one combined title-pattern prefilter, and the rest always."""

    by_domain: dict[str, list[Rule]] = field(default_factory=dict)
    by_app: dict[str, list[Rule]] = field(default_factory=dict)
    by_title: list[Rule] = field(default_factory=list)
    title_prefilter: re.Pattern[str] | None = None
    always: list[Rule] = field(default_factory=list)

    def add(self, rule: Rule) -> None:
        m = rule.match
        assert m is not None
        if m.domains:
            for d in m.domains:
                self.by_domain.setdefault(d, []).append(rule)
        elif m.apps and not any(ch in a for a in m.apps for ch in "*?["):
            for a in m.apps:
                self.by_app.setdefault(a, []).append(rule)
        elif m.title is not None:
            self.by_title.append(rule)
        else:
            self.always.append(rule)

    def finish(self) -> None:
        if self.by_title:
            patterns = [r.match.title.pattern for r in self.by_title if r.match and r.match.title]
            combined = "|".join(f"(?:{p})" for p in patterns)
            try:
                self.title_prefilter = re.compile(combined, re.IGNORECASE)
            except re.error:  # e.g. inline global flags: fall back to checking each rule
                self.always.extend(self.by_title)
                self.by_title = []

    def candidates(self, ev: "_Event") -> tuple[Rule, ...]:
        return self.lookup(str(ev.row.detail.get("url", "")), ev.row.app, ev.process, ev.title)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one index per engine, kept for its life
    def lookup(self, url: str, app: str, process: str, title: str) -> tuple[Rule, ...]:
        """The rules an event with these fields could match (a pure function of them, so
        cached: most events are the same few windows again)."""
        out = list(self.always)
        host = _host(url) if self.by_domain else ""
        if host:
            parts = host.split(".")
            for i in range(len(parts) - 1):
                out.extend(self.by_domain.get(".".join(parts[i:]), ()))
        if self.by_app:
            out.extend(self.by_app.get(app.lower(), ()))
            if process.lower() != app.lower():
                out.extend(self.by_app.get(process.lower(), ()))
        if self.title_prefilter is not None and title and self.title_prefilter.search(title):
            out.extend(self.by_title)
        return tuple(out)

    def __hash__(self) -> int:  # lru_cache keys on self: identity is right for an index
        return id(self)


def _host(url: str) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    except ValueError:
        return ""


@dataclass
class _Index:
    # kind -> category ("" = any) -> rules that need a detection hit
    hit: dict[str, dict[str, list[Rule]]] = field(default_factory=dict)
    # kind -> rules that can match a bare event
    bare: dict[str, _BareIndex] = field(default_factory=dict)


class _Event:
    """Per-event lazily computed facts shared by all rules."""

    __slots__ = ("_facts", "_host", "_resolver", "process", "row", "title")

    def __init__(self, row: EventRow, resolver: SubjectResolver | None) -> None:
        self.row = row
        d = row.detail
        self.process = str(d.get("process", ""))
        self.title = str(d.get("page_title") or row.title)
        self._host: str | None = None
        self._resolver = resolver
        self._facts: SubjectFacts | None = None

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = _host(str(self.row.detail.get("url", "")))
        return self._host

    @property
    def facts(self) -> SubjectFacts:
        if self._facts is None:
            r = self.row
            self._facts = (
                self._resolver.resolve(r.os_user, r.device_id, r.observed_at)
                if self._resolver is not None
                else UNKNOWN
            )
        return self._facts


@dataclass(frozen=True, slots=True)
class Prepared:
    """`TriggerEngine.prepare`'s result: row identity → the (rule, signal, event) it matched."""

    matches: dict[int, Sequence[tuple[Rule, Signal, "_Event"]]]


class TriggerEngine(StatefulTriggers):
    """Evaluates a RuleSet. Thread-safe for concurrent evaluate() calls (no mutable state of its
    own beyond the title cache); state lives in the TriggerState the caller passes."""

    def __init__(
        self,
        detection: Engine | None = None,
        alert_threshold: int = 3,
        rules: RuleSet | None = None,
        subjects: SubjectResolver | None = None,
        notify_delay_s: float = DEFAULT_NOTIFY_DELAY_S,
        title_cache_size: int = 8192,
    ) -> None:
        self._scan_title: Callable[[str], tuple[Signal, ...]] = functools.lru_cache(
            maxsize=title_cache_size
        )(self._scan_title_uncached)
        # (kind, app, title, detail JSON) of ingest rows no rule could even look at: most
        # events are the same few windows again, and they are skipped with one set lookup.
        self._unmatched: set[tuple[str, str, str, str]] = set()
        self._unmatched_size = title_cache_size
        self.detection = detection
        self.alert_threshold = alert_threshold
        self.rules = rules if rules is not None else load_rules()
        self.subjects = subjects
        self.notify_delay_s = notify_delay_s
        self._blocks = {r.id: r for r in self.rules.rules if r.building_block}
        # building block id -> rules with `after:` on it (they need its matches recorded)
        self._consumers: dict[str, list[Rule]] = {}
        for r in self.rules.content_rules:
            if r.after is not None:
                self._consumers.setdefault(r.after.rule, []).append(r)
        self._index = self._build_index()
        self._memory = MemoryTriggerState()

    @property
    def detection(self) -> Engine | None:
        return self._detection

    @detection.setter
    def detection(self, engine: Engine | None) -> None:
        """A new detection engine (the console's keyword edits) applies to titles seen before."""
        self._detection = engine
        self._scan_title.cache_clear()  # type: ignore[attr-defined]
        self._unmatched = set()

    # --- plain TriggerFn compatibility (state kept in memory, per engine)
    def __call__(self, rows: Sequence[EventRow]) -> list[AlertCandidate]:
        return self.evaluate(rows, self._memory)

    def _build_index(self) -> _Index:
        idx = _Index()
        for r in self.rules.content_rules:
            if r.building_block and r.id not in self._consumers:
                continue  # only ever used inline by other rules
            assert r.match is not None
            for kind in r.match.kinds:
                if r.match.needs_hit:
                    by_cat = idx.hit.setdefault(kind, {})
                    for cat in r.match.categories or {""}:
                        by_cat.setdefault(cat, []).append(r)
                else:
                    idx.bare.setdefault(kind, _BareIndex()).add(r)
        for b in idx.bare.values():
            b.finish()
        return idx

    def _scan_title_uncached(self, text: str) -> tuple[Signal, ...]:
        if self.detection is None or not text:
            return ()
        hits = self.detection.scan(text, "title")
        hits = sorted(hits, key=lambda h: -h.severity)
        return tuple(
            Signal(h.category, h.severity, h.rule, h.matched, h.snippet, "title") for h in hits
        )

    def signals(self, row: EventRow) -> tuple[Signal, ...]:
        if row.kind == "risk_match":
            d = row.detail
            return (
                Signal(
                    str(d.get("category", "")),
                    int(d.get("severity", 0)),
                    str(d.get("rule", "")),
                    str(d.get("matched", "")),
                    str(d.get("snippet", "")),
                    str(d.get("source", "typed")),
                ),
            )
        if row.kind == "window_focus":
            return self._scan_title(str(row.detail.get("page_title") or row.title))
        return ()

    def prepare(self, rows: Sequence[EventRow]) -> "Prepared":
        """The stateless part of evaluation, outside the ingest transaction: scan window titles
        (through the title cache) and find, per row, the rules whose match accepts it. Inside
        the transaction `evaluate` then only does the stateful part (counting, suppression,
        firing) for the few rows that matched anything."""
        return Prepared({id(row): self._matches(row) for row in rows})

    # --- evaluation
    def evaluate(
        self, rows: Sequence[EventRow], state: TriggerState, prepared: object = None
    ) -> list[AlertCandidate]:
        """Candidates for `rows`, in order. `prepared`: what `prepare` returned for these rows
        (or more); rows it does not cover are matched here."""
        out: list[AlertCandidate] = []
        known = prepared.matches if isinstance(prepared, Prepared) else {}
        for row in rows:
            matches = known.get(id(row))
            if matches is None:
                matches = self._matches(row)
            for rule, sig, ev in matches:
                self._fire(rule, sig, ev, state, out, None)
        return out

    def explain(
        self, rows: Sequence[EventRow], state: TriggerState
    ) -> tuple[list[AlertCandidate], list[Trace]]:
        """Like evaluate, and also what every matching rule did (for `rules test`)."""
        out: list[AlertCandidate] = []
        trace: list[Trace] = []
        for row in rows:
            self._evaluate_row(row, state, out, trace)
        return out, trace

    def _evaluate_row(
        self,
        row: EventRow,
        state: TriggerState,
        out: list[AlertCandidate],
        trace: list[Trace] | None,
    ) -> None:
        for rule, sig, ev in self._matches(row):
            self._fire(rule, sig, ev, state, out, trace)

    def _matches(self, row: EventRow) -> Sequence[tuple[Rule, Signal, "_Event"]]:
        """The rules whose match accepts this row, each once, with the signal it accepted, in
        firing order. Stateless: reads only the row, the title cache and subject facts."""
        kind = row.kind
        by_cat = self._index.hit.get(kind)
        bare = self._index.bare.get(kind)
        if by_cat is None and bare is None:
            return ()
        key = (kind, row.app, row.title, row.detail_json)
        if key in self._unmatched:
            return ()
        signals = self.signals(row)
        ev: _Event | None = None
        done: set[str] = set()
        out: list[tuple[Rule, Signal, _Event]] = []
        if by_cat:
            for sig in signals:
                for rules in (by_cat.get(sig.category), by_cat.get("")):
                    if not rules:
                        continue
                    for rule in rules:
                        if rule.id in done:
                            continue
                        if ev is None:
                            ev = _Event(row, self.subjects)
                        if self._accepts(rule.match, sig, ev):  # type: ignore[arg-type]
                            done.add(rule.id)
                            out.append((rule, sig, ev))
        if bare is not None:
            d = row.detail
            candidates = bare.lookup(
                str(d.get("url", "")),
                row.app,
                str(d.get("process", "")),
                str(d.get("page_title") or row.title),
            )
            sig = signals[0] if signals else BARE
            for rule in candidates:
                if rule.id in done:
                    continue
                if ev is None:
                    ev = _Event(row, self.subjects)
                if self._accepts(rule.match, sig, ev):  # type: ignore[arg-type]
                    done.add(rule.id)
                    out.append((rule, sig, ev))
        if ev is None and row.detail_json:  # no rule looked: true of every row like this one
            unmatched = self._unmatched
            if len(unmatched) >= self._unmatched_size:
                unmatched.clear()
            unmatched.add(key)
        return out

    def _accepts(self, m: Match, sig: Signal, ev: _Event) -> bool:
        if m.severity is not None and not m.severity[0] <= sig.severity <= m.severity[1]:
            return False
        if m.categories is not None and sig.category not in m.categories:
            return False
        if m.source is not None and sig.source != m.source:
            return False
        if m.lexicon_rules is not None and not m.lexicon_rule_matches(sig.lexicon_rule):
            return False
        if m.apps is not None and not m.app_matches(ev.row.app, ev.process):
            return False
        if m.domains is not None and not (ev.host and m.domain_matches(ev.host)):
            return False
        if m.title is not None and not m.title.search(ev.title):
            return False
        if m.needs_subject:
            f = ev.facts
            if m.device_groups is not None and not m.device_groups.intersection(f.groups):
                return False
            if m.age_bands is not None and f.age_band not in m.age_bands:
                return False
            if m.sites is not None and f.site not in m.sites:
                return False
            if m.roles is not None and f.role not in m.roles:
                return False
        for block_id in m.building_blocks:
            block = self._blocks[block_id].match
            if block is None or not self._accepts(block, sig, ev):
                return False
        return True

    def _group_key(self, rule: Rule, sig: Signal, ev: _Event) -> str:
        values = []
        for g in rule.group_by:
            if g == "device":
                values.append(ev.row.device_id)
            elif g == "user":
                values.append(ev.row.os_user)
            elif g == "site":
                values.append(ev.facts.site)
            elif g == "group":
                values.append(ev.facts.groups[0] if ev.facts.groups else "")
            elif g == "category":
                values.append(sig.category)
            elif g == "lexicon_rule":
                values.append(sig.lexicon_rule)
            elif g == "app":
                values.append(ev.row.app.lower())
            else:  # domain
                values.append(ev.host)
        return "|".join(values)

    def _fire(
        self,
        rule: Rule,
        sig: Signal,
        ev: _Event,
        state: TriggerState,
        out: list[AlertCandidate],
        trace: list[Trace] | None,
    ) -> None:
        row = ev.row
        at = row.observed_at
        if rule.building_block:
            for consumer in self._consumers.get(rule.id, ()):
                assert consumer.after is not None
                key = f"b|{rule.id}|{consumer.id}|{self._group_key(consumer, sig, ev)}"
                state.record_hit(key, at, row.device_id, consumer.after.within)
            if trace is not None:
                trace.append(Trace(row.event_id, rule.id, "block", sig.severity))
            return
        dedup_key = f"{rule.id}|{self._group_key(rule, sig, ev)}"
        if rule.frequency > 1:
            fkey = "f|" + dedup_key
            state.record_hit(fkey, at, row.device_id, rule.timeframe)
            n = state.count_hits(fkey, at - rule.timeframe, at)
            if n < rule.frequency:
                if trace is not None:
                    trace.append(
                        Trace(
                            row.event_id,
                            rule.id,
                            "counting",
                            0,
                            f"{n}/{rule.frequency} within {rule.timeframe}",
                        )
                    )
                return
        if rule.after is not None:
            key = f"b|{rule.after.rule}|{rule.id}|{self._group_key(rule, sig, ev)}"
            if state.count_hits(key, at - rule.after.within, at) == 0:
                if trace is not None:
                    trace.append(
                        Trace(
                            row.event_id,
                            rule.id,
                            "waiting",
                            0,
                            f"needs {rule.after.rule} within {rule.after.within}",
                        )
                    )
                return
        if rule.suppress_for:
            skey = "s|" + dedup_key
            until = state.suppressed_until(skey)
            if until is not None and at < until:
                if trace is not None:
                    trace.append(
                        Trace(row.event_id, rule.id, "suppressed", 0, f"until {until.isoformat()}")
                    )
                return
            state.suppress(skey, at + rule.suppress_for)
        severity = rule.severity if rule.severity is not None else sig.severity
        reasons: list[str] = []
        if sig.lexicon_rule:
            reasons.append(f"lexicon {sig.lexicon_rule}")
        r = rule.raise_
        if r.out_of_hours and self.rules.calendar.is_out_of_hours(at):
            severity += r.out_of_hours
            reasons.append(f"out of hours +{r.out_of_hours}")
        if r.age_bands:
            bump = r.age_bands.get(ev.facts.age_band, 0)
            if bump:
                severity += bump
                reasons.append(f"age band {ev.facts.age_band} +{bump}")
        if r.repeat_count:
            prior = state.alerts_since(dedup_key, at - r.repeat_within)
            if prior + 1 >= r.repeat_count:
                severity += r.repeat_by
                reasons.append(f"repeat {prior + 1} in {r.repeat_within} +{r.repeat_by}")
        severity = min(5, severity)
        if severity < max(1, self.alert_threshold):
            if trace is not None:
                trace.append(Trace(row.event_id, rule.id, "below_threshold", severity))
            return
        kind, key, cohort_key = "single", dedup_key, ""
        cohort_window_s = 900.0
        if rule.cohort is not None:
            cohort_key = cohorts.cohort_key(rule.id, rule.cohort, ev.facts)
            cohort_window_s = rule.cohort.within.total_seconds()
            if cohort_key:
                ckey = "c|" + cohort_key
                state.record_hit(ckey, at, row.device_id, rule.cohort.within)
                devices = state.distinct_devices(ckey, at - rule.cohort.within, at)
                decision = cohorts.decide(rule.cohort, devices, severity)
                if decision.cluster:
                    kind, key, severity = "cluster", "cohort|" + cohort_key, decision.severity
                    reasons.append(decision.reason)
        facts = ev.facts  # firings are rare; site and group go on the alert for reports
        out.append(
            AlertCandidate(
                dedup_key=key[:300],
                severity=severity,
                category=(rule.category or sig.category or "other")[:32],
                rule=rule.id,
                source=(sig.source or ("title" if row.kind == "window_focus" else "typed"))[:8],
                device_id=row.device_id,
                os_user=row.os_user,
                app=row.app,
                title=row.title,
                matched=sig.matched[:128],
                snippet=sig.snippet[:256],
                event_id=row.event_id,
                observed_at=at,
                dedup_window_s=rule.dedup_window.total_seconds(),
                kind=kind,
                cohort_key=cohort_key[:300],
                cohort_window_s=cohort_window_s,
                site=facts.site[:128],
                group_name=(facts.groups[0] if facts.groups else "")[:128],
                reasons=tuple(reasons),
                person_id=facts.person_id if kind == "single" else None,
                notify=rule.notify,
                notify_delay_s=self.notify_delay_s if cohort_key and severity < 5 else 0.0,
            )
        )
        if isinstance(state, MemoryTriggerState) and kind == "single":
            state.note_alert(dedup_key, at, rule.dedup_window)
        if trace is not None:
            trace.append(
                Trace(
                    row.event_id,
                    rule.id,
                    "cluster" if kind == "cluster" else "fired",
                    severity,
                    ", ".join(reasons),
                )
            )
