"""The spool: nothing leaves before an ack, risk matches first, bounded with visible gaps."""

from pathlib import Path

import pytest

from agent.spool import Spool
from lantern.v1 import lantern_pb2 as pb


def focus(title: str) -> pb.Event:
    event = pb.Event()
    event.window_focus.title = title
    return event


def match(rule: str) -> pb.Event:
    event = pb.Event()
    event.risk_match.CopyFrom(pb.RiskMatch(category="suicide", severity=4, rule=rule))
    return event


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, "student1")


def test_append_stamps_id_user_time_and_seq(spool: Spool) -> None:
    spool.append(focus("a"))
    spool.append(focus("b"))
    _, events = spool.lease(10)
    assert [e.window_focus.title for e in events] == ["a", "b"]
    assert [e.seq for e in events] == [1, 2]
    assert all(e.os_user == "student1" and e.HasField("observed_at") for e in events)
    assert events[0].event_id != events[1].event_id
    assert events[0].event_id[14] == "7"  # UUID version 7


def test_leased_events_stay_until_commit_and_are_not_leased_twice(spool: Spool) -> None:
    for i in range(5):
        spool.append(focus(str(i)))
    batch, events = spool.lease(3)
    assert len(events) == 3
    _, rest = spool.lease(10)
    assert len(rest) == 2
    assert spool.stats().depth == 5
    assert spool.commit(batch) == 3
    assert spool.stats().depth == 2


def test_release_and_restart_make_events_leasable_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    spool.append(focus("x"))
    batch, _ = spool.lease(10)
    spool.release(batch)
    again, events = spool.lease(10)
    assert len(events) == 1 and again != batch
    spool.close()
    reopened = Spool(tmp_path, "u")  # in-flight leases do not survive a restart
    _, events = reopened.lease(10)
    assert [e.window_focus.title for e in events] == ["x"]


def test_seq_is_never_reused_after_commit(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    spool.append(focus("1"))
    batch, _ = spool.lease(10)
    spool.commit(batch)
    spool.close()
    spool = Spool(tmp_path, "u")
    spool.append(focus("2"))
    _, events = spool.lease(10)
    assert events[0].seq == 2


def test_risk_matches_jump_the_queue(spool: Spool) -> None:
    spool.append(focus("a"))
    spool.append(match("r1"))
    _, events = spool.lease(1)
    assert events[0].WhichOneof("kind") == "risk_match"


def test_full_spool_drops_low_priority_first_and_records_a_gap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u", max_events=3)
    for i in range(3):
        assert spool.append(focus(str(i)))
    assert not spool.append(focus("dropped"))
    assert spool.append(match("kept"))  # evicts the oldest window event
    _, events = spool.lease(10)
    kinds = [e.WhichOneof("kind") for e in events]
    gap = next(e.gap for e in events if e.WhichOneof("kind") == "gap")
    assert gap.dropped == 2 and gap.reason == "spool_full"
    assert kinds.count("risk_match") == 1
    assert "0" not in [e.window_focus.title for e in events if e.HasField("window_focus")]


def test_events_older_than_the_age_bound_expire_into_a_gap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u", max_age_s=0.0)
    spool.append(focus("old"))
    spool.append(focus("new"))  # expires "old"
    _, events = spool.lease(10)
    gaps = [e.gap for e in events if e.HasField("gap")]
    assert gaps and gaps[0].reason == "spool_expired" and gaps[0].dropped >= 1
