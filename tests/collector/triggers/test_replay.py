"""`rules test` replay and `scan` with triggers, on the packaged rules and the real lexicon."""

import io
import json

import pytest

from collector.triggers.replay import replay, scan_with_triggers
from collector.triggers.rules import load_rules
from lantern.detection import Engine


@pytest.fixture(scope="module")
def detection() -> Engine:
    return Engine.load()


def lines(*objs: object) -> list[str]:
    return [json.dumps(o) for o in objs]


def test_replay_prints_what_each_rule_did() -> None:
    out = io.StringIO()
    events = lines(
        {"category": "gambling", "severity": 2, "at": "2026-11-25T11:00:00Z"},
        {"category": "gambling", "severity": 2, "at": "2026-11-25T11:10:00Z"},
        {"category": "gambling", "severity": 2, "at": "2026-11-25T11:20:00Z"},
        {"category": "gambling", "severity": 2, "at": "2026-11-25T11:30:00Z"},
        {
            "category": "suicide",
            "severity": 4,
            "at": "2026-11-25T23:00:00Z",
            "age_band": "under_16",
        },
        {
            "kind": "window_focus",
            "title": "x",
            "url": "https://www.bet365.com/",
            "age_band": "16_17",
            "at": "2026-11-25T23:01:00Z",
            "user": "other",
        },
        {"category": "nope"},
    )
    summary = replay(events, load_rules(), out)
    text = out.getvalue()
    assert "content.gambling_repeated: counting (1/3 within 1:00:00)" in text
    assert "content.gambling_repeated: ALERT severity 3" in text
    assert "content.gambling_repeated: suppressed" in text
    assert (
        "content.suicide_self_harm: ALERT severity 5 (lexicon , out of hours +1, "
        "age band under_16 +1)"
    ) not in text  # no lexicon rule given: no lexicon reason
    assert (
        "content.suicide_self_harm: ALERT severity 5 (out of hours +1, age band under_16 +1)"
        in text
    )
    assert "content.gambling_sites: counting (1/2 within 1:00:00)" in text
    assert "line 7: error: a risk_match needs a category and a severity 1-5" in text
    assert summary.alerts == {"content.gambling_repeated": 1, "content.suicide_self_harm": 1}
    assert summary.errors == 1


def test_replay_json_and_typed_text_through_detection(detection: Engine) -> None:
    out = io.StringIO()
    replay(
        lines(
            {"text": "honestly i want to kill myself tonight", "at": "2026-11-25T11:00:00Z"},
            {"text": "this homework is killing me", "at": "2026-11-25T11:00:05Z"},
        ),
        load_rules(),
        out,
        detection=detection,
        as_json=True,
    )
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    fired = [a["rule"] for r in results for a in r["alerts"]]
    assert fired == ["content.suicide_self_harm"]
    assert all(r["line"] == 1 for r in results if r["alerts"])


def test_scan_applies_triggers(detection: Engine) -> None:
    stdin = io.StringIO(
        "\n".join(
            lines(
                {"id": 1, "text": "i want to kill myself", "source": "typed"},
                {"id": 2, "text": "Photosynthesis revision - BBC Bitesize", "source": "title"},
            )
        )
        + "\nnot json\n"
    )
    stdout = io.StringIO()
    assert scan_with_triggers(stdin, stdout, detection, load_rules()) == 1
    first, second, bad = (json.loads(line) for line in stdout.getvalue().splitlines())
    assert first["id"] == 1 and first["hits"]
    assert [a["rule"] for a in first["alerts"]] == ["content.suicide_self_harm"]
    assert second["hits"] == [] and second["alerts"] == []
    assert bad["id"] is None and "bad input line" in bad["error"]
