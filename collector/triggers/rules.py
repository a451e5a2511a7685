"""Trigger rules as data: the YAML schema, validation with clear errors, and the loaded RuleSet.

A rules file is a mapping with ``rules:`` (a list) and optionally ``calendar:`` (working hours and
term dates, at most once across all files). docs/alerts.md documents every field; the short form:

    rules:
      - id: content.suicide            # unique, [a-z0-9_.-]
        match:                         # every condition given must hold (AND); lists are OR
          kind: [risk_match, window_focus]
          category: [suicide, self_harm]
          severity: ">=3"              # or 4, or "2-4"
          source: typed                # typed | title
          app: [chrome, "*teams*"]     # app or process name, case-insensitive glob
          domain: [tiktok.com]         # URL host or any subdomain of it
          title: "(?i)how to .*"       # regular expression searched in the window title
          device_group: [Year 10]
          age_band: [under_16]
          site: [North]
          role: [student]
          lexicon_rule: ["suicide.*"]  # detection rule id, glob
          building_blocks: [bb.x]      # every named building block must match this event too
        frequency: 3                   # fire on the 3rd match ...
        timeframe: 1h                  # ... within one hour (matches counted per group_by key)
        group_by: [device, user]       # device, user, site, group, category, lexicon_rule, app, domain
        suppress_for: 30m              # after firing, stay quiet for this group key this long
        dedup_window: 1h               # repeats fold into the open alert seen within this window
        severity: 4                    # alert severity (default: the match's severity)
        raise: {out_of_hours: 1, repeat: {count: 3, within: 7d, by: 1}, age_band: {under_16: 1}}
        cohort: {min_devices: 5, within: 15m, by: site, reduce_by: 1}
        after: {rule: bb.y, within: 1h}  # only if building block bb.y matched this key recently
        building_block: false          # true: never alerts; used by other rules
        notify: true
      - id: coverage.offline
        coverage: {type: offline, threshold: 3d}   # offline | blind | tamper | circumvention | gap
        severity: 2
"""

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector.triggers.calendar import Calendar, Term, parse_days
from lantern.detection.lexicon import CATEGORIES

DEFAULT_RULES_DIR = Path(__file__).parent / "rules"

EVENT_KINDS = ("risk_match", "window_focus", "circumvention", "agent_state", "gap")
CONTENT_KINDS = ("risk_match", "window_focus")
GROUP_BY = ("device", "user", "site", "group", "category", "lexicon_rule", "app", "domain")
AGE_BANDS = ("under_16", "16_17", "18_plus", "unknown")
ROLES = ("student", "staff", "guest", "unknown")
COVERAGE_TYPES = ("offline", "blind", "tamper", "circumvention", "gap")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SEVERITY = re.compile(r"^\s*(?:(>=|<=|>|<|=)?\s*([1-5])|([1-5])\s*-\s*([1-5]))\s*$")


class RuleError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the field."""


def parse_duration(value: str | int) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``7d``, ``1w``, or a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 10m, 2h, 7d, 1w)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_severity(value: str | int) -> tuple[int, int]:
    """A severity condition as an inclusive (low, high) range."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    m = _SEVERITY.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a severity condition (use 4, '>=3', '<=2' or '2-4')")
    if m.group(3):
        low, high = int(m.group(3)), int(m.group(4))
        if low > high:
            raise ValueError(f"severity range {value!r} is empty")
        return low, high
    op, n = m.group(1) or "=", int(m.group(2))
    return {
        "=": (n, n),
        ">=": (n, 5),
        ">": (n + 1, 5),
        "<=": (1, n),
        "<": (1, n - 1),
    }[op]


# --------------------------------------------------------------------------- raw YAML schema
def _listify(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str | int):
        v = [v]
    if isinstance(v, list):
        # YAML reads 16_17 as the number 1617; a value that must be a string is written as one.
        return [x if isinstance(x, str) else str(x) for x in v]
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _MatchDoc(_Strict):
    kind: list[str] | None = None
    category: list[str] | None = None
    severity: str | int | None = None
    source: Literal["typed", "title"] | None = None
    app: list[str] | None = None
    domain: list[str] | None = None
    title: str | None = None
    device_group: list[str] | None = None
    age_band: list[str] | None = None
    site: list[str] | None = None
    role: list[str] | None = None
    lexicon_rule: list[str] | None = None
    building_blocks: list[str] | None = None

    _lists = field_validator(
        "kind",
        "category",
        "app",
        "domain",
        "device_group",
        "age_band",
        "site",
        "role",
        "lexicon_rule",
        "building_blocks",
        mode="before",
    )(_listify)


class _RepeatDoc(_Strict):
    count: int = Field(ge=2)
    within: str | int
    by: int = Field(1, ge=1, le=4)


class _RaiseDoc(_Strict):
    out_of_hours: int = Field(0, ge=0, le=4)
    repeat: _RepeatDoc | None = None
    age_band: dict[str, int] | None = None


class _CohortDoc(_Strict):
    min_devices: int = Field(5, ge=2)
    within: str | int = "15m"
    by: Literal["site", "group"] = "group"
    reduce_by: int = Field(1, ge=0, le=4)


class _AfterDoc(_Strict):
    rule: str
    within: str | int


class _CoverageDoc(_Strict):
    type: Literal["offline", "blind", "tamper", "circumvention", "gap"]
    threshold: str | int | None = None
    kinds: list[str] | None = None
    min_dropped: int = Field(1, ge=1)
    term_time_only: bool = True


class _RuleDoc(_Strict):
    id: str
    description: str = ""
    enabled: bool = True
    building_block: bool = False
    match: _MatchDoc | None = None
    coverage: _CoverageDoc | None = None
    severity: int | None = Field(None, ge=1, le=5)
    category: str | None = None
    frequency: int = Field(1, ge=1, le=10_000)
    timeframe: str | int | None = None
    group_by: list[str] = ["device", "user"]
    suppress_for: str | int | None = None
    dedup_window: str | int = "1h"
    raise_: _RaiseDoc | None = Field(None, alias="raise")
    cohort: _CohortDoc | None = None
    after: _AfterDoc | None = None
    notify: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    _lists = field_validator("group_by", mode="before")(_listify)


class _CalendarDoc(_Strict):
    timezone: str = "Europe/London"
    working_days: list[str] = ["mon", "tue", "wed", "thu", "fri"]
    day_start: time = time(8, 30)
    day_end: time = time(17, 0)
    terms: list[dict[str, Any]] = []


class _FileDoc(_Strict):
    rules: list[_RuleDoc] = []
    calendar: _CalendarDoc | None = None


# --------------------------------------------------------------------------- compiled rules
@dataclass(frozen=True, slots=True)
class Match:
    """Conditions on one signal (an event, or one detection hit in it). None means any."""

    kinds: frozenset[str]
    categories: frozenset[str] | None = None
    severity: tuple[int, int] | None = None
    source: str | None = None
    apps: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None
    title: re.Pattern[str] | None = None
    device_groups: frozenset[str] | None = None
    age_bands: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    lexicon_rules: tuple[str, ...] | None = None
    building_blocks: tuple[str, ...] = ()

    @property
    def needs_hit(self) -> bool:
        """True when only a detection hit (never a bare event) can satisfy the conditions."""
        return bool(self.categories or self.severity or self.lexicon_rules or self.source)

    @property
    def needs_subject(self) -> bool:
        return bool(self.device_groups or self.age_bands or self.sites or self.roles)

    def app_matches(self, app: str, process: str) -> bool:
        assert self.apps is not None
        a, p = app.lower(), process.lower()
        return any(fnmatch.fnmatchcase(a, g) or fnmatch.fnmatchcase(p, g) for g in self.apps)

    def domain_matches(self, host: str) -> bool:
        assert self.domains is not None
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def lexicon_rule_matches(self, rule: str) -> bool:
        assert self.lexicon_rules is not None
        return any(fnmatch.fnmatchcase(rule, g) for g in self.lexicon_rules)


@dataclass(frozen=True, slots=True)
class Raise:
    out_of_hours: int = 0
    repeat_count: int = 0
    repeat_within: timedelta = timedelta(0)
    repeat_by: int = 0
    age_bands: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cohort:
    min_devices: int
    within: timedelta
    by: str  # site | group
    reduce_by: int


@dataclass(frozen=True, slots=True)
class After:
    rule: str
    within: timedelta


@dataclass(frozen=True, slots=True)
class Coverage:
    type: str
    threshold: timedelta
    kinds: tuple[str, ...] | None
    min_dropped: int
    term_time_only: bool


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    building_block: bool
    match: Match | None
    coverage: Coverage | None
    severity: int | None
    category: str | None
    frequency: int
    timeframe: timedelta
    group_by: tuple[str, ...]
    suppress_for: timedelta
    dedup_window: timedelta
    raise_: Raise
    cohort: Cohort | None
    after: After | None
    notify: bool
    source_file: str

    @property
    def is_coverage(self) -> bool:
        return self.coverage is not None


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    calendar: Calendar

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def content_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.match is not None)

    @property
    def coverage_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.coverage is not None)


_COVERAGE_DEFAULT_THRESHOLD = {
    "offline": timedelta(days=3),
    "blind": timedelta(hours=1),
    "tamper": timedelta(0),
    "circumvention": timedelta(0),
    "gap": timedelta(0),
}


def _fmt_pydantic(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _compile_match(doc: _MatchDoc, where: str) -> Match:
    kinds = doc.kind or list(CONTENT_KINDS)
    for k in kinds:
        if k not in CONTENT_KINDS:
            raise RuleError(
                f"{where}: match.kind: {k!r} is not a content event kind "
                f"(use {', '.join(CONTENT_KINDS)}; coverage kinds go under `coverage:`)"
            )
    for c in doc.category or ():
        if c not in CATEGORIES:
            raise RuleError(
                f"{where}: match.category: unknown category {c!r} (known: {', '.join(CATEGORIES)})"
            )
    for b in doc.age_band or ():
        if b not in AGE_BANDS:
            raise RuleError(f"{where}: match.age_band: {b!r} is not one of {', '.join(AGE_BANDS)}")
    for r in doc.role or ():
        if r not in ROLES:
            raise RuleError(f"{where}: match.role: {r!r} is not one of {', '.join(ROLES)}")
    try:
        severity = parse_severity(doc.severity) if doc.severity is not None else None
    except ValueError as exc:
        raise RuleError(f"{where}: match.severity: {exc}") from None
    try:
        title = re.compile(doc.title, re.IGNORECASE) if doc.title else None
    except re.error as exc:
        raise RuleError(f"{where}: match.title: not a valid regular expression: {exc}") from None
    domains = None
    if doc.domain is not None:
        domains = tuple(d.strip().lower().lstrip("*.").rstrip(".") for d in doc.domain)
        if not all(domains):
            raise RuleError(f"{where}: match.domain: empty domain")
    return Match(
        kinds=frozenset(kinds),
        categories=frozenset(doc.category) if doc.category else None,
        severity=severity,
        source=doc.source,
        apps=tuple(a.lower() for a in doc.app) if doc.app else None,
        domains=domains,
        title=title,
        device_groups=frozenset(doc.device_group) if doc.device_group else None,
        age_bands=frozenset(doc.age_band) if doc.age_band else None,
        sites=frozenset(doc.site) if doc.site else None,
        roles=frozenset(doc.role) if doc.role else None,
        lexicon_rules=tuple(doc.lexicon_rule) if doc.lexicon_rule else None,
        building_blocks=tuple(doc.building_blocks or ()),
    )


def _duration(value: str | int | None, where: str, name: str, default: timedelta) -> timedelta:
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise RuleError(f"{where}: {name}: {exc}") from None


def _compile_rule(doc: _RuleDoc, source: str) -> Rule:
    where = f"{source}: rule {doc.id!r}"
    if not _ID.match(doc.id):
        raise RuleError(f"{where}: id must be lowercase letters, digits, '_', '.', '-'")
    if (doc.match is None) == (doc.coverage is None):
        raise RuleError(f"{where}: give exactly one of `match:` (content) or `coverage:`")
    for g in doc.group_by:
        if g not in GROUP_BY:
            raise RuleError(f"{where}: group_by: {g!r} is not one of {', '.join(GROUP_BY)}")
    if doc.category is not None and doc.category not in (*CATEGORIES, "coverage"):
        raise RuleError(f"{where}: category: unknown category {doc.category!r}")
    if doc.frequency > 1 and doc.timeframe is None:
        raise RuleError(f"{where}: frequency {doc.frequency} needs a timeframe (e.g. 1h)")
    timeframe = _duration(doc.timeframe, where, "timeframe", timedelta(0))
    if doc.timeframe is not None and timeframe <= timedelta(0):
        raise RuleError(f"{where}: timeframe must be positive")
    raise_ = Raise()
    if doc.raise_ is not None:
        r = doc.raise_
        for band in r.age_band or {}:
            if band not in AGE_BANDS:
                raise RuleError(f"{where}: raise.age_band: {band!r} is not one of {AGE_BANDS}")
        raise_ = Raise(
            out_of_hours=r.out_of_hours,
            repeat_count=r.repeat.count if r.repeat else 0,
            repeat_within=_duration(
                r.repeat.within if r.repeat else None, where, "raise.repeat.within", timedelta(0)
            ),
            repeat_by=r.repeat.by if r.repeat else 0,
            age_bands=dict(r.age_band or {}),
        )
    cohort = None
    if doc.cohort is not None:
        cohort = Cohort(
            min_devices=doc.cohort.min_devices,
            within=_duration(doc.cohort.within, where, "cohort.within", timedelta(minutes=15)),
            by=doc.cohort.by,
            reduce_by=doc.cohort.reduce_by,
        )
    after = None
    if doc.after is not None:
        after = After(
            doc.after.rule, _duration(doc.after.within, where, "after.within", timedelta(0))
        )
    coverage = None
    match = None
    if doc.coverage is not None:
        c = doc.coverage
        if doc.severity is None:
            raise RuleError(f"{where}: coverage rules need a severity")
        if doc.building_block or cohort or after or doc.frequency > 1:
            raise RuleError(
                f"{where}: coverage rules take no building_block, cohort, after or frequency"
            )
        coverage = Coverage(
            type=c.type,
            threshold=_duration(
                c.threshold, where, "coverage.threshold", _COVERAGE_DEFAULT_THRESHOLD[c.type]
            ),
            kinds=tuple(c.kinds) if c.kinds else None,
            min_dropped=c.min_dropped,
            term_time_only=c.term_time_only,
        )
    else:
        assert doc.match is not None
        match = _compile_match(doc.match, where)
    return Rule(
        id=doc.id,
        description=doc.description,
        building_block=doc.building_block,
        match=match,
        coverage=coverage,
        severity=doc.severity,
        category=doc.category,
        frequency=doc.frequency,
        timeframe=timeframe,
        group_by=tuple(doc.group_by),
        suppress_for=_duration(doc.suppress_for, where, "suppress_for", timedelta(0)),
        dedup_window=_duration(doc.dedup_window, where, "dedup_window", timedelta(hours=1)),
        raise_=raise_,
        cohort=cohort,
        after=after,
        notify=doc.notify and not doc.building_block,
        source_file=source,
    )


def _compile_calendar(doc: _CalendarDoc, source: str) -> Calendar:
    try:
        tz = ZoneInfo(doc.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(
            f"{source}: calendar.timezone: unknown time zone {doc.timezone!r}"
        ) from None
    try:
        days = parse_days(doc.working_days)
    except ValueError as exc:
        raise RuleError(f"{source}: calendar.working_days: {exc}") from None
    terms = []
    for i, t in enumerate(doc.terms):
        try:
            start = date.fromisoformat(str(t["start"]))
            end = date.fromisoformat(str(t["end"]))
        except (KeyError, ValueError) as exc:
            raise RuleError(
                f"{source}: calendar.terms.{i}: needs start and end as YYYY-MM-DD ({exc})"
            ) from None
        if end < start:
            raise RuleError(f"{source}: calendar.terms.{i}: ends before it starts")
        terms.append(Term(str(t.get("name", f"term {i + 1}")), start, end))
    if doc.day_end <= doc.day_start:
        raise RuleError(f"{source}: calendar: day_end must be after day_start")
    return Calendar(tz, days, doc.day_start, doc.day_end, tuple(terms))


def parse_rules(documents: Iterable[tuple[str, Any]]) -> RuleSet:
    """Compile parsed YAML documents, given as (source name, document), into one checked RuleSet."""
    rules: list[Rule] = []
    calendar: Calendar | None = None
    calendar_source = ""
    for source, data in documents:
        if data is None:
            continue
        if not isinstance(data, dict):
            raise RuleError(f"{source}: expected a mapping with `rules:` at the top level")
        try:
            doc = _FileDoc.model_validate(data)
        except ValidationError as exc:
            raise RuleError(f"{source}: {_fmt_pydantic(exc)}") from None
        if doc.calendar is not None:
            if calendar is not None:
                raise RuleError(f"{source}: calendar: already given in {calendar_source}")
            calendar, calendar_source = _compile_calendar(doc.calendar, source), source
        rules.extend(_compile_rule(r, source) for r in doc.rules if r.enabled)
    seen: dict[str, str] = {}
    for r in rules:
        if r.id in seen:
            raise RuleError(f"{r.source_file}: rule {r.id!r}: duplicate id (also in {seen[r.id]})")
        seen[r.id] = r.source_file
    blocks = {r.id: r for r in rules if r.building_block}
    for r in rules:
        where = f"{r.source_file}: rule {r.id!r}"
        refs = list(r.match.building_blocks if r.match else ())
        refs += [r.after.rule] if r.after else []
        for ref in refs:
            if ref not in blocks:
                known = ", ".join(sorted(blocks)) or "none defined"
                raise RuleError(
                    f"{where}: {ref!r} is not a building block (building blocks: {known})"
                )
            if ref == r.id:
                raise RuleError(f"{where}: a rule cannot use itself")
        if r.match and r.building_block and r.match.building_blocks:
            raise RuleError(f"{where}: building blocks cannot use other building blocks")
    return RuleSet(tuple(rules), calendar or Calendar())


def load_rules(paths: Iterable[Path] | Path | None = None) -> RuleSet:
    """Load rules from YAML files and/or directories (default: the packaged rules/)."""
    if paths is None:
        paths = [DEFAULT_RULES_DIR]
    elif isinstance(paths, Path):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.exists():
            files.append(p)
        else:
            raise RuleError(f"{p}: no such rules file or directory")
    docs = []
    for f in files:
        try:
            docs.append((f.name, yaml.safe_load(f.read_text(encoding="utf-8"))))
        except yaml.YAMLError as exc:
            raise RuleError(f"{f.name}: not valid YAML: {exc}") from None
    return parse_rules(docs)
