"""Rule semantics on the in-memory state: frequency windows, suppression, building blocks, raises,
context from the subject resolver, cohorts, and the bare-event rules (app, domain, title)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules, parse_rules
from collector.triggers.state import MemoryTriggerState
from collector.triggers.subjects import DeviceGroupResolver, Facts, StaticResolver
from tests.collector.triggers.helpers import T0, KeywordDetector, focus, match, minutes


def engine(*rules: dict[str, Any], resolver: Any = None, detector: Any = None) -> TriggerEngine:
    return TriggerEngine(
        detector, 3, parse_rules([("t.yaml", {"rules": list(rules)})]), subjects=resolver
    )


def test_frequency_fires_on_the_nth_match_within_the_timeframe() -> None:
    e = engine(
        {
            "id": "r",
            "match": {"category": "gambling"},
            "frequency": 3,
            "timeframe": "1h",
            "severity": 3,
        }
    )
    st = MemoryTriggerState()
    g = {"category": "gambling", "severity": 2}
    assert e.evaluate([match(at=T0, **g)], st) == []
    assert e.evaluate([match(at=T0 + minutes(30), **g)], st) == []
    fired = e.evaluate([match(at=T0 + minutes(59), **g)], st)
    assert [c.rule for c in fired] == ["r"]  # 3 matches in [t-1h, t]
    # The 4th match an hour after the 1st still has 3 in its window: fires (and folds by dedup).
    assert len(e.evaluate([match(at=T0 + minutes(61), **g)], st)) == 1
    # Much later the window holds one match again.
    assert e.evaluate([match(at=T0 + minutes(300), **g)], st) == []


def test_frequency_counts_per_group_by_key() -> None:
    e = engine({"id": "r", "match": {}, "frequency": 2, "timeframe": "10m", "group_by": ["user"]})
    st = MemoryTriggerState()
    assert e.evaluate([match(user="a"), match(user="b", device="dev-2")], st) == []
    fired = e.evaluate([match(user="a", device="dev-9", at=T0 + minutes(1))], st)
    assert [c.os_user for c in fired] == ["a"] and fired[0].dedup_key == "r|a"


def test_suppress_for_silences_a_key_after_firing() -> None:
    e = engine({"id": "r", "match": {}, "suppress_for": "30m"})
    st = MemoryTriggerState()
    assert len(e.evaluate([match(at=T0)], st)) == 1
    assert e.evaluate([match(at=T0 + minutes(10))], st) == []
    assert len(e.evaluate([match(user="other", at=T0 + minutes(10))], st)) == 1
    assert len(e.evaluate([match(at=T0 + minutes(31))], st)) == 1


def test_building_blocks_never_alert_and_gate_other_rules() -> None:
    detector = KeywordDetector({"methods": ("suicide", 2)})
    e = engine(
        {
            "id": "bb.typed",
            "building_block": True,
            "match": {"kind": "risk_match", "category": "suicide"},
        },
        {
            "id": "research",
            "match": {"kind": "window_focus", "category": "suicide"},
            "after": {"rule": "bb.typed", "within": "1h"},
            "severity": 5,
        },
        detector=detector,
    )
    st = MemoryTriggerState()
    search = focus(title="painless methods - Google Search", at=T0)
    assert e.evaluate([search], st) == []  # no typed signal before: nothing
    assert e.evaluate([match(severity=2, at=T0 + minutes(1))], st) == []  # block: silent
    fired = e.evaluate([focus(title="painless methods - Google Search", at=T0 + minutes(5))], st)
    assert [(c.rule, c.severity, c.source) for c in fired] == [("research", 5, "title")]
    # A different user on the same device has no typed signal.
    assert e.evaluate([focus(user="s2", title="methods", at=T0 + minutes(6))], st) == []


def test_building_blocks_as_shared_conditions() -> None:
    e = engine(
        {"id": "bb.browser", "building_block": True, "match": {"app": ["chrom*", "firefox"]}},
        {"id": "r", "match": {"category": "drugs", "building_blocks": ["bb.browser"]}},
    )
    st = MemoryTriggerState()
    assert e.evaluate([match(category="drugs", app="Word", process="winword")], st) == []
    assert len(e.evaluate([match(category="drugs", app="Chromium")], st)) == 1


def test_severity_raises_out_of_hours_age_band_and_repetition() -> None:
    resolver = StaticResolver({"dev-1": Facts(age_band="under_16")})
    e = engine(
        {
            "id": "r",
            "match": {"category": "suicide"},
            "raise": {
                "out_of_hours": 1,
                "age_band": {"under_16": 1},
                "repeat": {"count": 2, "within": "7d", "by": 1},
            },
        },
        resolver=resolver,
    )
    st = MemoryTriggerState()
    (c,) = e.evaluate([match(severity=3, device="dev-2", at=T0)], st)
    assert c.severity == 3 and c.reasons == ("lexicon suicide.kms",)
    night = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    (c,) = e.evaluate([match(severity=3, device="dev-3", at=night)], st)
    assert c.severity == 4 and "out of hours +1" in c.reasons
    (c,) = e.evaluate([match(severity=3, device="dev-1", at=T0)], st)
    assert c.severity == 4 and "age band under_16 +1" in c.reasons
    # dev-2 again two days later: the second alert for the key within 7 days.
    (c,) = e.evaluate([match(severity=3, device="dev-2", at=T0 + timedelta(days=2))], st)
    assert c.severity == 4 and any(r.startswith("repeat 2") for r in c.reasons)
    (c,) = e.evaluate([match(severity=5, device="dev-1", at=night)], st)
    assert c.severity == 5  # capped


def test_context_filters_from_the_resolver() -> None:
    resolver = StaticResolver(
        {
            "dev-1": Facts(role="student", age_band="16_17", site="North", groups=("Year 12",)),
            "dev-2": Facts(role="staff", age_band="18_plus", site="South", groups=("Staff",)),
        }
    )
    e = engine(
        {
            "id": "r",
            "match": {
                "device_group": ["Year 12"],
                "site": ["North"],
                "role": ["student"],
                "age_band": ["16_17"],
            },
        },
        resolver=resolver,
    )
    st = MemoryTriggerState()
    assert [
        c.device_id for c in e.evaluate([match(device="dev-1"), match(device="dev-2")], st)
    ] == ["dev-1"]


def test_default_resolver_knows_device_groups() -> None:
    calls = []

    def lookup() -> dict[str, str | None]:
        calls.append(1)
        return {"dev-1": "Year 10"}

    resolver = DeviceGroupResolver(lookup)
    assert resolver.resolve("s1", "dev-1", T0).groups == ("Year 10",)
    assert resolver.resolve("s1", "dev-1", T0).groups == ("Year 10",)
    assert len(calls) == 1  # cached


def test_cached_resolver_asks_once_per_login() -> None:
    from collector.triggers.subjects import CachedResolver

    class Counting:
        calls = 0

        def resolve(self, os_user: str, device_id: str, at: datetime) -> Facts:
            Counting.calls += 1
            return Facts(site="North")

    r = CachedResolver(Counting())
    assert [r.resolve("s1", "d1", T0).site for _ in range(3)] == ["North"] * 3
    r.resolve("s2", "d1", T0)
    assert Counting.calls == 2


def test_bare_events_match_on_domain_app_and_title_pattern() -> None:
    e = engine(
        {
            "id": "d",
            "match": {"kind": "window_focus", "domain": ["bet365.com"]},
            "category": "gambling",
            "severity": 3,
        },
        {
            "id": "t",
            "match": {"kind": "window_focus", "title": r"how to (buy|make) a gun"},
            "category": "violence",
            "severity": 4,
        },
    )
    st = MemoryTriggerState()
    fired = e.evaluate(
        [
            focus(url="https://sports.bet365.com/#/home", title="Bet365"),
            focus(url="https://notbet365.com/", title="x"),
            focus(title="How to make a gun at home - Search", device="dev-2"),
        ],
        st,
    )
    assert [(c.rule, c.category, c.severity) for c in fired] == [
        ("d", "gambling", 3),
        ("t", "violence", 4),
    ]


def test_title_scans_are_cached_per_title() -> None:
    detector = KeywordDetector({"knife": ("violence", 3)})
    e = engine({"id": "r", "match": {"category": "violence"}}, detector=detector)
    st = MemoryTriggerState()
    rows = [focus(title="knife crime essay", user=f"s{i}", at=T0 + minutes(i)) for i in range(5)]
    assert len(e.evaluate(rows, st)) == 5
    assert detector.calls == 1


def test_below_threshold_matches_do_not_alert() -> None:
    e = engine({"id": "r", "match": {}})
    assert e.evaluate([match(severity=2)], MemoryTriggerState()) == []


def test_cohort_burst_becomes_one_cluster_at_reduced_severity() -> None:
    resolver = StaticResolver({f"dev-{i}": Facts(groups=("10B",)) for i in range(10)})
    e = engine(
        {
            "id": "v",
            "match": {"category": "violence"},
            "cohort": {"min_devices": 3, "within": "15m", "by": "group", "reduce_by": 1},
        },
        resolver=resolver,
    )
    st = MemoryTriggerState()
    out = []
    for i in range(6):
        out += e.evaluate(
            [
                match(
                    device=f"dev-{i}",
                    user=f"s{i}",
                    category="violence",
                    severity=4,
                    at=T0 + minutes(i),
                )
            ],
            st,
        )
    assert [c.kind for c in out] == ["single", "single", "cluster", "cluster", "cluster", "cluster"]
    assert {c.dedup_key for c in out[2:]} == {"cohort|v|group:10B"}
    assert all(c.severity == 3 for c in out[2:])
    assert out[0].cohort_key == "v|group:10B" and out[0].notify_delay_s > 0
    # A severity 5 member stands alone at 5.
    (five,) = e.evaluate(
        [match(device="dev-7", user="s7", category="violence", severity=5, at=T0 + minutes(7))], st
    )
    assert five.kind == "single" and five.severity == 5 and five.notify_delay_s == 0


def test_packaged_rules_raise_a_suicide_alert_and_stay_quiet_on_low_severity() -> None:
    e = TriggerEngine(None, 3, load_rules())
    st = MemoryTriggerState()
    (c,) = e.evaluate([match(severity=4)], st)
    assert c.rule == "content.suicide_self_harm" and c.severity == 4
    assert e.evaluate([match(severity=2, user="s9")], st) == []


def test_plain_call_still_works_as_a_trigger_fn() -> None:
    e = engine({"id": "r", "match": {}})
    assert len(e([match()])) == 1
