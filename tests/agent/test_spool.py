"""The spool: nothing leaves before an ack, risk matches first, bounded with visible gaps."""

from pathlib import Path

import pytest

from agent.spool import Spool
from lantern.v1 import lantern_pb2 as pb


def observed(event: pb.Event) -> pb.Event:
    # A fixed time: the spool stamps the current one otherwise, and its varint length varies
    # with the nanoseconds, so events would differ in size by a byte or two (tests that fill a
    # spool to a byte budget need equal sizes).
    event.observed_at.FromNanoseconds(1_764_000_000_123_456_789)
    return event


def focus(title: str) -> pb.Event:
    event = pb.Event()
    event.window_focus.title = title
    return observed(event)


def match(rule: str) -> pb.Event:
    event = pb.Event()
    event.risk_match.CopyFrom(pb.RiskMatch(category="suicide", severity=4, rule=rule))
    return observed(event)


def stamped_size(tmp_path: Path, event: pb.Event) -> int:
    """Bytes one such event takes once the spool has stamped id, user and time on it."""
    probe = Spool(tmp_path / "probe", "u")
    probe.append(event)
    size = probe.stats().bytes
    probe.close()
    return size


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, "student1")


def test_append_stamps_id_user_time_and_seq(spool: Spool) -> None:
    for title in ("a", "b"):
        event = focus(title)
        event.ClearField("observed_at")  # the spool stamps the time when the observer did not
        spool.append(event)
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
    size = stamped_size(tmp_path, focus("0"))
    spool = Spool(tmp_path / "s", "u", max_bytes=3 * size)
    for i in range(4):  # the fourth evicts the oldest: recent context is worth more
        assert spool.append(focus(str(i)))
    assert spool.append(match("kept"))  # evicts window events, never the other way round
    _, events = spool.lease(10)
    kinds = [e.WhichOneof("kind") for e in events]
    gap = next(e.gap for e in events if e.WhichOneof("kind") == "gap")
    assert gap.reason == "spool_full" and gap.dropped >= 2
    assert kinds.count("risk_match") == 1
    titles = [e.window_focus.title for e in events if e.HasField("window_focus")]
    assert "0" not in titles and "3" in titles


def test_events_older_than_the_age_bound_expire_into_a_gap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u", max_age_s=0.0)
    spool.append(focus("old"))
    spool.append(focus("new"))  # expires "old"
    _, events = spool.lease(10)
    gaps = [e.gap for e in events if e.HasField("gap")]
    assert gaps and gaps[0].reason == "spool_expired" and gaps[0].dropped >= 1


def test_a_full_spool_of_risk_matches_makes_room_only_for_risk_matches(tmp_path: Path) -> None:
    one = stamped_size(tmp_path, match("r0"))
    spool = Spool(tmp_path / "s", "u", max_bytes=2 * one)
    assert spool.append(match("r1")) and spool.append(match("r2"))
    assert not spool.append(focus("window"))
    assert spool.append(match("r3"))
    _, events = spool.lease(10)
    rules = [e.risk_match.rule for e in events if e.HasField("risk_match")]
    assert "r3" in rules and "r1" not in rules


def test_size_accounting_survives_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    for i in range(10):
        spool.append(focus(str(i)))
    before = spool.stats()
    spool.close()
    after = Spool(tmp_path, "u").stats()
    assert (after.depth, after.bytes) == (before.depth, before.bytes) and after.bytes > 0


def test_a_corrupt_spool_is_quarantined_replaced_and_reported(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    spool.append(focus("x"))
    spool.close()
    (tmp_path / "spool.db").write_bytes(b"this is not a database" * 100)
    for side in ("spool.db-wal", "spool.db-shm"):
        (tmp_path / side).unlink(missing_ok=True)
    fresh = Spool(tmp_path, "u")
    assert list(tmp_path.glob("spool.db.corrupt-*"))
    _, events = fresh.lease(10)
    assert [e.gap.reason for e in events] == ["spool_corrupt"]
