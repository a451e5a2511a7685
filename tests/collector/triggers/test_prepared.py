"""`prepare` (outside the ingest transaction) + `evaluate(…, prepared)` inside it gives the same
candidates, in the same order, as evaluating from scratch — with the shipped rules, frequency
windows, building blocks and bare domain rules in the mix."""

import json
import random
from dataclasses import replace

from collector.store.interface import EventRow
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules
from collector.triggers.state import MemoryTriggerState
from collector.triggers.subjects import Facts, StaticResolver
from tests.collector.triggers.helpers import T0, KeywordDetector, focus, match, minutes

WORDS = {
    "methods": ("suicide", 3),
    "casino": ("gambling", 2),
    "knife": ("violence", 3),
    "pills": ("drugs", 3),
}


def rows_for(seed: int) -> list[EventRow]:
    rng = random.Random(seed)
    out = []
    for k in range(400):
        at = T0 + minutes(k / 4)
        device, user = f"dev-{rng.randrange(6)}", f"s{rng.randrange(4)}"
        x = rng.random()
        if x < 0.15:
            out.append(
                match(
                    device,
                    user,
                    category=rng.choice(["suicide", "self_harm", "bullying", "gambling"]),
                    severity=rng.randrange(1, 6),
                    at=at,
                )
            )
        else:
            title = rng.choice(["Essay - Docs", "painless methods", "casino bonus", "knife", ""])
            url = rng.choice(["", "https://www.bet365.com/x", "https://example.org"])
            out.append(focus(device, user, title=title, url=url, at=at))
    return out


def test_prepared_evaluation_equals_plain_evaluation() -> None:
    resolver = StaticResolver({"s1": Facts(age_band="under_16", groups=("Year 10",))})
    for seed in range(5):
        rows = rows_for(seed)
        plain = TriggerEngine(KeywordDetector(WORDS), 3, load_rules(), subjects=resolver)
        split = TriggerEngine(KeywordDetector(WORDS), 3, load_rules(), subjects=resolver)
        expected, got = [], []
        a, b = MemoryTriggerState(), MemoryTriggerState()
        for i in range(0, len(rows), 50):  # group commits of 50 rows
            group = rows[i : i + 50]
            expected += plain.evaluate(group, a)
            # Rows prepare did not see (the first five) are matched inline.
            got += split.evaluate(group, b, split.prepare(group[5:] + rows[:3]))
        assert len(expected) > 20
        assert got == expected


def test_a_new_detection_engine_applies_to_titles_seen_before() -> None:
    """The console's keyword edits swap the engine live; cached title scans and cached
    'nothing can match' answers must not outlive the old one."""
    e = TriggerEngine(KeywordDetector({}), 3, load_rules())
    st = MemoryTriggerState()

    def ingested() -> list[EventRow]:  # as ingest makes them: detail JSON included
        row = focus(title="knife crime video - YouTube")
        return [replace(row, detail_json=json.dumps(row.detail))]

    rows = ingested()
    assert e.evaluate(rows, st, e.prepare(rows)) == []
    e.detection = KeywordDetector({"knife": ("violence", 4)})  # type: ignore[assignment]
    rows = ingested()
    assert [c.rule for c in e.evaluate(rows, st, e.prepare(rows))] == ["content.violence"]
