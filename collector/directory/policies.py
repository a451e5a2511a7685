"""Group policies: what each group's settings are, and how they combine for one device.

Precedence (also in docs/directory.md):

1. Start from the base policy (the collector's default, `collector.ingest.policies.default_policy`).
2. Collect the current policy of every group that applies: the device's groups (enrolment token
   group, MDM inventory group) and the groups of the person using it.
3. Apply them in ascending `priority`; on equal priority device groups go before person groups,
   then by group name. A later policy overrides single-valued settings it sets (notice text,
   capture flags, heartbeat, category list); settings it leaves unset (None) are inherited.
4. `min_severity` merges per category, the later policy winning per category.
5. `excluded_apps` is the union of every applicable policy: an exclusion protects privacy (a
   password manager, a counselling app) and no other group can take it away.

The wire `version` is a hash of the resolved content, so it changes exactly when what the agent
would do changes; agents compare it for equality only.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from lantern.detection.lexicon import CATEGORIES
from lantern.v1 import lantern_pb2 as pb

GroupSource = Literal["device", "person"]

# Bounds that keep a typo from blinding or flooding the fleet.
MIN_HEARTBEAT_SECONDS = 10
MAX_HEARTBEAT_SECONDS = 3600
MAX_NOTICE_CHARS = 2000


class PolicyError(ValueError):
    """A group policy that cannot be stored (unknown category, severity out of range, ...)."""


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """The settings one group's policy sets. None everywhere means "inherit"."""

    priority: int = 0
    categories: tuple[str, ...] | None = None  # categories monitored; () would monitor none
    min_severity: Mapping[str, int] | None = None  # category (or "*") -> lowest severity to alert
    notice_text: str | None = None
    capture_typed: bool | None = None
    capture_titles: bool | None = None
    heartbeat_seconds: int | None = None
    excluded_apps: tuple[str, ...] | None = None

    def validated(self) -> "PolicySpec":
        """The spec with names normalised, or PolicyError naming what is wrong."""
        for name, kind in (
            ("capture_typed", bool),
            ("capture_titles", bool),
            ("notice_text", str),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise PolicyError(f"{name} must be {'true or false' if kind is bool else 'text'}")
        for name in ("priority", "heartbeat_seconds"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise PolicyError(f"{name} must be a whole number")
        categories = None
        if self.categories is not None:
            unknown = sorted(set(self.categories) - set(CATEGORIES))
            if unknown:
                raise PolicyError(f"unknown categories: {', '.join(unknown)}")
            categories = tuple(sorted(set(self.categories)))
        min_severity = None
        if self.min_severity is not None:
            min_severity = {}
            for cat, sev in self.min_severity.items():
                if cat != "*" and cat not in CATEGORIES:
                    raise PolicyError(f"unknown category in min_severity: {cat}")
                if not isinstance(sev, int) or not 1 <= sev <= 5:
                    raise PolicyError(f"min_severity for {cat} must be 1-5, not {sev!r}")
                min_severity[cat] = sev
        if self.notice_text is not None:
            if not self.notice_text.strip():
                # The notice is how monitoring stays overt: a group cannot blank it.
                raise PolicyError("notice_text cannot be empty; leave it unset to inherit")
            if len(self.notice_text) > MAX_NOTICE_CHARS:
                raise PolicyError(f"notice_text is longer than {MAX_NOTICE_CHARS} characters")
        hb = self.heartbeat_seconds
        if hb is not None and not MIN_HEARTBEAT_SECONDS <= hb <= MAX_HEARTBEAT_SECONDS:
            raise PolicyError(
                f"heartbeat_seconds must be {MIN_HEARTBEAT_SECONDS}-{MAX_HEARTBEAT_SECONDS}"
            )
        apps = None
        if self.excluded_apps is not None:
            apps = tuple(sorted({a.strip().lower() for a in self.excluded_apps if a.strip()}))
        return replace(
            self,
            categories=categories,
            min_severity=min_severity,
            excluded_apps=apps,
        )


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """One stored version of a group's policy."""

    group_name: str
    version: int
    spec: PolicySpec
    changed_by: str
    changed_at: datetime
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class AppliedGroup:
    group_name: str
    version: int
    source: GroupSource


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The policy one device gets, and the collector-side settings (min_severity) triggers use."""

    notice_text: str
    excluded_apps: tuple[str, ...]
    categories: tuple[str, ...] | None  # None: every category
    capture_typed: bool
    capture_titles: bool
    heartbeat_seconds: int
    min_severity: Mapping[str, int] = field(default_factory=dict)
    applied: tuple[AppliedGroup, ...] = ()
    os_user: str = ""  # whose person groups were looked at ("": nobody signed in yet)

    @property
    def version(self) -> int:
        """A positive int64 derived from the content: equal policies, equal versions."""
        body = {
            "notice_text": self.notice_text,
            "excluded_apps": list(self.excluded_apps),
            "categories": None if self.categories is None else list(self.categories),
            "capture_typed": self.capture_typed,
            "capture_titles": self.capture_titles,
            "heartbeat_seconds": self.heartbeat_seconds,
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
        return int.from_bytes(digest[:8], "big") & ((1 << 62) - 1) or 1

    def min_severity_for(self, category: str, default: int) -> int:
        """The lowest severity that alerts for a category under this policy."""
        return int(self.min_severity.get(category, self.min_severity.get("*", default)))

    def monitors(self, category: str) -> bool:
        return self.categories is None or category in self.categories

    def to_proto(self) -> pb.Policy:
        # The wire says "empty = all"; a policy that monitors no category is sent as the single
        # impossible category "none" so the agent does not read it as "all".
        if self.categories is None:
            categories: list[str] = []
        else:
            categories = list(self.categories) or ["none"]
        return pb.Policy(
            version=self.version,
            notice_text=self.notice_text,
            excluded_apps=list(self.excluded_apps),
            categories=categories,
            capture_typed=self.capture_typed,
            capture_titles=self.capture_titles,
            heartbeat_seconds=self.heartbeat_seconds,
        )


def from_proto(base: pb.Policy) -> EffectivePolicy:
    return EffectivePolicy(
        notice_text=base.notice_text,
        excluded_apps=tuple(sorted({a.lower() for a in base.excluded_apps})),
        categories=tuple(base.categories) or None,
        capture_typed=base.capture_typed,
        capture_titles=base.capture_titles,
        heartbeat_seconds=base.heartbeat_seconds,
    )


def resolve_policy(
    base: EffectivePolicy, policies: Sequence[tuple[GroupPolicy, GroupSource]]
) -> EffectivePolicy:
    """Combine the base and the applicable group policies with the documented precedence."""
    order = {"device": 0, "person": 1}
    ordered = sorted(
        ((p, src) for p, src in policies if not p.deleted),
        key=lambda ps: (ps[0].spec.priority, order[ps[1]], ps[0].group_name),
    )
    result = base
    min_sev: dict[str, int] = dict(base.min_severity)
    apps = set(base.excluded_apps)
    for policy, _source in ordered:
        spec = policy.spec
        result = replace(
            result,
            notice_text=_pick(spec.notice_text, result.notice_text),
            categories=spec.categories if spec.categories is not None else result.categories,
            capture_typed=_pick(spec.capture_typed, result.capture_typed),
            capture_titles=_pick(spec.capture_titles, result.capture_titles),
            heartbeat_seconds=_pick(spec.heartbeat_seconds, result.heartbeat_seconds),
        )
        min_sev.update(spec.min_severity or {})
        apps.update(spec.excluded_apps or ())
    return replace(
        result,
        min_severity=min_sev,
        excluded_apps=tuple(sorted(apps)),
        applied=tuple(AppliedGroup(p.group_name, p.version, src) for p, src in ordered),
    )


def _pick(value: Any, inherited: Any) -> Any:
    return inherited if value is None else value


def spec_from_mapping(data: Mapping[str, Any]) -> PolicySpec:
    """A spec from JSON/YAML (unknown keys are an error, so a typo is not silently ignored)."""
    allowed = set(PolicySpec.__dataclass_fields__)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PolicyError(f"unknown policy settings: {', '.join(unknown)}")

    def tup(key: str) -> tuple[str, ...] | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise PolicyError(f"{key} must be a list")
        return tuple(str(v) for v in value)

    return PolicySpec(
        priority=data.get("priority", 0),
        categories=tup("categories"),
        min_severity=dict(data["min_severity"]) if data.get("min_severity") is not None else None,
        notice_text=data.get("notice_text"),
        capture_typed=data.get("capture_typed"),
        capture_titles=data.get("capture_titles"),
        heartbeat_seconds=data.get("heartbeat_seconds"),
        excluded_apps=tup("excluded_apps"),
    ).validated()


def spec_to_mapping(spec: PolicySpec) -> dict[str, Any]:
    return {
        "priority": spec.priority,
        "categories": None if spec.categories is None else list(spec.categories),
        "min_severity": None if spec.min_severity is None else dict(spec.min_severity),
        "notice_text": spec.notice_text,
        "capture_typed": spec.capture_typed,
        "capture_titles": spec.capture_titles,
        "heartbeat_seconds": spec.heartbeat_seconds,
        "excluded_apps": None if spec.excluded_apps is None else list(spec.excluded_apps),
    }
