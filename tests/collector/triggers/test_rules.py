"""Rules files: the packaged set loads; mistakes are refused with the file, rule and field named."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from collector.triggers.rules import (
    RuleError,
    load_rules,
    parse_duration,
    parse_rules,
    parse_severity,
)


def rules_of(*rules: dict[str, object], calendar: dict[str, object] | None = None) -> object:
    doc: dict[str, object] = {"rules": list(rules)}
    if calendar is not None:
        doc["calendar"] = calendar
    return parse_rules([("test.yaml", doc)])


def test_packaged_rules_load_and_cover_content_and_coverage() -> None:
    rs = load_rules()
    ids = {r.id for r in rs.rules}
    assert "content.suicide_self_harm" in ids
    assert {r.coverage.type for r in rs.coverage_rules if r.coverage} == {
        "offline",
        "blind",
        "tamper",
        "circumvention",
        "gap",
    }
    assert rs.calendar.terms, "term dates are configured"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "x", "match": {"category": "suicde"}}, "unknown category 'suicde'"),
        ({"id": "x", "match": {"categry": "suicide"}}, "rules.0.match.categry: unknown field"),
        ({"id": "x", "match": {"severity": ">=7"}}, "match.severity"),
        ({"id": "x", "match": {"title": "(unclosed"}}, "match.title: not a valid regular"),
        ({"id": "x", "match": {}, "frequency": 3}, "frequency 3 needs a timeframe"),
        ({"id": "x", "match": {}, "frequency": 3, "timeframe": "soon"}, "not a duration"),
        ({"id": "x", "match": {}, "group_by": ["class"]}, "group_by: 'class' is not one of"),
        ({"id": "x", "match": {"kind": "gap"}}, "coverage kinds go under `coverage:`"),
        ({"id": "x"}, "exactly one of `match:`"),
        ({"id": "x", "coverage": {"type": "offline"}}, "coverage rules need a severity"),
        ({"id": "x", "match": {"building_blocks": ["bb.nope"]}}, "'bb.nope' is not a building"),
        ({"id": "X Y", "match": {}}, "id must be lowercase"),
        ({"id": "x", "match": {"age_band": ["teen"]}}, "'teen' is not one of"),
    ],
)
def test_mistakes_name_the_file_rule_and_field(rule: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as err:
        rules_of(rule)
    assert message in str(err.value)
    assert str(err.value).startswith("test.yaml")


def test_duplicate_ids_across_files_are_refused() -> None:
    doc = {"rules": [{"id": "a", "match": {}}]}
    with pytest.raises(RuleError, match="duplicate id"):
        parse_rules([("one.yaml", doc), ("two.yaml", doc)])


def test_bad_yaml_and_missing_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"bad\.yaml: not valid YAML"):
        load_rules(bad)
    with pytest.raises(RuleError, match="no such rules file"):
        load_rules(tmp_path / "missing.yaml")


def test_disabled_rules_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        yaml.safe_dump(
            {"rules": [{"id": "on", "match": {}}, {"id": "off", "enabled": False, "match": {}}]}
        )
    )
    assert [r.id for r in load_rules(tmp_path).rules] == ["on"]


def test_durations_and_severity_conditions() -> None:
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration(30) == timedelta(seconds=30)
    assert parse_severity(">=3") == (3, 5)
    assert parse_severity("2-4") == (2, 4)
    assert parse_severity(4) == (4, 4)
    assert parse_severity("<3") == (1, 2)


def test_calendar_working_hours_and_terms_in_london_time() -> None:
    rs = rules_of(
        {"id": "x", "match": {}},
        calendar={
            "day_start": "08:30",
            "day_end": "17:00",
            "terms": [{"start": "2026-09-03", "end": "2026-12-18"}],
        },
    )
    cal = rs.calendar  # type: ignore[attr-defined]
    # 16:30 UTC in June is 17:30 BST: out of hours; in November it is 16:30 GMT: working hours.
    assert cal.is_out_of_hours(datetime(2026, 6, 10, 16, 30, tzinfo=UTC))
    assert cal.is_working_hours(datetime(2026, 11, 25, 16, 30, tzinfo=UTC))
    assert cal.is_out_of_hours(datetime(2026, 11, 28, 11, 0, tzinfo=UTC))  # Saturday
    assert cal.in_term(datetime(2026, 11, 25, tzinfo=UTC))
    assert not cal.in_term(datetime(2026, 12, 25, tzinfo=UTC))


def test_calendar_mistakes() -> None:
    with pytest.raises(RuleError, match="unknown time zone"):
        rules_of(calendar={"timezone": "Europe/Londres"})
    with pytest.raises(RuleError, match="ends before it starts"):
        rules_of(calendar={"terms": [{"start": "2026-09-03", "end": "2026-01-01"}]})
