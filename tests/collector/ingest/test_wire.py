"""Wire conversion: the fast paths (canonical ids by regex, times as numbers, window-focus JSON
built directly) give exactly what the plain ones would, for hostile input too."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.ingest.wire import EARLIEST, MAX_TITLE, convert_batch, event_row
from lantern.ids import uuid7_str
from lantern.v1 import lantern_pb2 as pb

NOW = datetime.now(UTC)


def focus(**fields: object) -> pb.Event:
    event = pb.Event(event_id=uuid7_str(), seq=1, os_user="s1")
    event.observed_at.FromDatetime(NOW)
    event.window_focus.CopyFrom(pb.WindowFocus(**fields))  # type: ignore[arg-type]
    return event


text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ['quote " and \\ backslash', "tab\tnew\nline", "nul\x00byte", "é ü 中文 🙂", "\u2028"]
)


@settings(max_examples=300, deadline=None)
@given(
    process=text,
    pid=st.integers(0, 2**31 - 1),
    browser=text,
    page_title=text,
    url=text,
    private=st.booleans(),
)
def test_window_focus_json_is_json_dumps_of_its_detail(
    process: str, pid: int, browser: str, page_title: str, url: str, private: bool
) -> None:
    row = event_row(
        focus(
            app="chromium",
            title="t",
            process=process,
            pid=pid,
            browser=browser,
            page_title=page_title,
            url=url,
            private_window=private,
        ),
        "device-1",
        NOW,
    )
    assert row.detail_json == json.dumps(row.detail)
    assert json.loads(row.detail_json) == row.detail


def test_every_kind_carries_its_detail_as_json() -> None:
    risk = pb.Event(event_id=uuid7_str(), seq=2, os_user="s1")
    risk.observed_at.FromDatetime(NOW)
    risk.risk_match.CopyFrom(pb.RiskMatch(category="bullying", severity=3, rule="r", matched="m"))
    gap = pb.Event(event_id=uuid7_str(), seq=3)
    gap.observed_at.FromDatetime(NOW)
    gap.gap.reason = "spool_full"
    gap.gap.first_dropped_at.FromDatetime(NOW - timedelta(hours=1))
    gap.gap.last_dropped_at.FromDatetime(NOW)
    state = pb.Event(event_id=uuid7_str(), seq=4)
    state.observed_at.FromDatetime(NOW)
    state.agent_state.cpu_percent = float("nan")
    converted = convert_batch(pb.EventBatch(events=[risk, gap, state]), "device-1", NOW)
    assert converted.rejected == []
    for row in converted.rows:
        assert json.loads(row.detail_json) == row.detail
    assert converted.rows[2].detail["cpu_percent"] == 0.0


def test_event_ids_canonical_by_regex_other_spellings_normalised_or_refused() -> None:
    canonical = uuid7_str()
    for spelling in (
        canonical,
        canonical.upper(),
        "{" + canonical + "}",
        canonical.replace("-", ""),
    ):
        event = focus(app="a")
        event.event_id = spelling
        assert event_row(event, "d", NOW).event_id == canonical == str(uuid.UUID(spelling))
    for bad in ("", "not-a-uuid", canonical[:-1] + "g", canonical + "0", "x" * 36):
        event = focus(app="a")
        event.event_id = bad
        converted = convert_batch(pb.EventBatch(events=[event]), "d", NOW)
        assert converted.rows == [] and converted.rejected == [(bad, "event_id is not a UUID")]


@pytest.mark.parametrize(
    ("observed", "ok"),
    [
        (EARLIEST, True),
        (EARLIEST - timedelta(microseconds=1), False),
        (NOW + timedelta(hours=23), True),
        (NOW + timedelta(days=1, minutes=1), False),
        (datetime(1970, 1, 1, tzinfo=UTC), False),
    ],
)
def test_observed_time_bounds(observed: datetime, ok: bool) -> None:
    event = focus(app="a")
    event.observed_at.FromDatetime(observed)
    converted = convert_batch(pb.EventBatch(events=[event]), "d", NOW)
    if ok:
        assert converted.rows[0].observed_at == observed
    else:
        assert converted.rejected == [(event.event_id, "observed_at out of range")]


def test_absurd_timestamps_are_refused_not_raised() -> None:
    for seconds, nanos in ((2**62, 0), (-(2**62), 0), (0, -(2**31)), (1_800_000_000, 2**31 - 1)):
        event = focus(app="a")
        event.observed_at.seconds, event.observed_at.nanos = seconds, nanos
        converted = convert_batch(pb.EventBatch(events=[event]), "d", NOW)
        assert len(converted.rejected) == 1


def test_microseconds_kept_and_long_strings_cut() -> None:
    event = focus(app="a", title="x" * 5000, page_title="y" * 5000)
    event.observed_at.seconds, event.observed_at.nanos = 1_790_000_000, 123_456_789
    row = event_row(event, "d", NOW)
    assert row.observed_at == datetime.fromtimestamp(1_790_000_000.123457, UTC)
    assert len(row.title) == MAX_TITLE and len(row.detail["page_title"]) == MAX_TITLE


def test_window_focus_cache_gives_the_same_rows_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from collector.ingest import wire

    monkeypatch.setattr(wire, "_FOCUS", {})
    monkeypatch.setattr(wire, "FOCUS_CACHE_SIZE", 3)
    events = [focus(app="a", title=f"t{i % 5}", process="p", pid=i % 5) for i in range(40)]
    first = convert_batch(pb.EventBatch(events=events), "d", NOW).rows
    again = convert_batch(pb.EventBatch(events=events), "d", NOW).rows
    assert [(r.title, r.detail, r.detail_json) for r in first] == [
        (r.title, r.detail, r.detail_json) for r in again
    ]
    assert [r.detail["pid"] for r in first] == [i % 5 for i in range(40)]
    assert len(wire._FOCUS) <= 3


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.integers(int(EARLIEST.timestamp()), int(NOW.timestamp())),
    nanos=st.integers(0, 999_999_999),
)
@example(seconds=int(EARLIEST.timestamp()), nanos=500)  # half a microsecond rounds up
@example(seconds=1_790_000_000, nanos=999_999_500)  # ... into the next second
def test_observed_text_is_the_stores_text_of_observed_at(seconds: int, nanos: int) -> None:
    from collector.store.sql import _db_time

    event = focus(app="a")
    event.observed_at.seconds, event.observed_at.nanos = seconds, nanos
    row = event_row(event, "d", NOW)
    assert row.observed_text == _db_time(row.observed_at)
    micros = seconds * 1_000_000 + (nanos + 500) // 1000  # rounded half up
    assert row.observed_at == datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)
