"""Coverage status, computed on read (collector/coverage.py). The MDM export it expects devices
from is the directory's device inventory (tests/collector/directory/test_importers.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from collector.coverage import (
    ExpectedDevice,
    FleetFacts,
    connection,
    coverage_report,
    fleet_status,
    version_key,
)
from collector.store.interface import DeviceRecord

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BEAT = timedelta(seconds=30)


def device(**kw: object) -> DeviceRecord:
    base: dict[str, object] = dict(
        id="d1",
        instance_id="i1",
        hostname="PC-1",
        hardware_serial="",
        os="linux",
        os_version="",
        agent_version="1.0.0",
        group_name=None,
        enrolled_at=NOW - timedelta(days=1),
        last_seen_at=None,
        last_event_at=None,
        last_seq=0,
        capabilities={},
        spool_depth=0,
        revoked=False,
    )
    base.update(kw)
    return DeviceRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("silent", "expected"),
    [
        (None, "never_connected"),
        (timedelta(seconds=0), "online"),
        (BEAT * 3, "online"),
        (BEAT * 3 + timedelta(seconds=1), "offline"),
        (timedelta(days=7), "offline"),
        (timedelta(days=7, seconds=1), "missing"),
    ],
)
def test_connection_from_last_seen(silent: timedelta | None, expected: str) -> None:
    seen = None if silent is None else NOW - silent
    assert connection(device(last_seen_at=seen), NOW, BEAT) == expected


def test_reporting_is_separate_from_connected() -> None:
    d = device(last_seen_at=NOW, last_event_at=NOW - timedelta(days=2))
    (s,) = fleet_status([d], FleetFacts(NOW, BEAT))
    assert s.connection == "online" and not s.reporting_24h and s.reporting_7d


def test_flags() -> None:
    devices = [
        device(id="a", capabilities={"windows": "ok", "keyboard": "unavailable: no access"}),
        device(id="b", agent_version="1.9.0"),
        # Two people's agents on one shared laptop: shared, not a problem.
        device(id="c", agent_version="1.10.0", hardware_serial="X"),
        device(id="d", agent_version="1.10.0", hardware_serial="X"),
        device(id="e", agent_version="1.10.0", revoked=True, hardware_serial="X"),
        # One identity presented by two live agents at once (ingest noticed): a cloned image.
        device(id="f", agent_version="1.10.0", hardware_serial="Y", clone_suspected_at=NOW),
    ]
    facts = FleetFacts(NOW, BEAT, tampered_devices=frozenset({"b"}))
    statuses = {s.device.id: s for s in fleet_status(devices, facts)}
    flags = {k: s.flags for k, s in statuses.items()}
    assert "blind" in flags["a"]
    assert "outdated" in flags["b"] and "tampered" in flags["b"]
    assert flags["c"] == ("shared",) and flags["d"] == ("shared",)
    assert statuses["c"].label == "never_connected"  # shared is information, not a fault
    assert flags["e"] == ("revoked",)
    assert flags["f"] == ("cloned",) and statuses["f"].label == "cloned"
    assert version_key("1.10.0") > version_key("1.9.3") > version_key("garbage")


def test_report_counts_an_expected_device_once_and_ignores_revoked() -> None:
    devices = [
        device(id="a", hardware_serial="S1", last_seen_at=NOW, last_event_at=NOW),
        device(id="b", hostname="pc-1", hardware_serial="", last_seen_at=NOW),  # re-image of S1
        device(id="c", hardware_serial="S2", revoked=True),
    ]
    expected = [
        ExpectedDevice("S1", "PC-1", "North", "Y10"),
        ExpectedDevice("S2", "PC-2", "North", "Y10"),
    ]
    report = coverage_report(fleet_status(devices, FleetFacts(NOW, BEAT)), expected)
    t = report.total
    # a and b are one laptop (the expected device S1): enrolled once, not twice.
    assert (t.expected, t.enrolled, t.expected_enrolled, t.not_enrolled) == (2, 1, 1, 1)
    assert t.coverage_percent == 50.0
    assert [r.name for r in report.by_site] == ["North"]


def test_a_shared_laptop_counts_once_and_is_as_live_as_its_latest_user() -> None:
    old_user = NOW - timedelta(days=9)
    devices = [
        # Three students' agents on one library laptop; the last signed in a minute ago.
        device(id="a", hardware_serial="LIB-7", last_seen_at=old_user, last_event_at=old_user),
        device(id="b", hardware_serial="LIB-7", last_seen_at=NOW, last_event_at=NOW),
        device(id="c", hardware_serial="LIB-7"),  # enrolled, never used since
        device(id="d", hardware_serial="LIB-8", last_seen_at=old_user),  # really missing
    ]
    t = coverage_report(fleet_status(devices, FleetFacts(NOW, BEAT)), []).total
    assert (t.enrolled, t.online, t.reporting_24h, t.missing, t.never_connected) == (2, 1, 1, 1, 0)


def test_two_live_agents_with_one_identity_show_as_cloned() -> None:
    flagged = device(
        id="f", hostname="PC-6", agent_version="1.10.0", clone_suspected_at=NOW - timedelta(hours=1)
    )
    plain = device(id="g", hostname="PC-7", agent_version="1.10.0")
    flags = {s.device.id: s.flags for s in fleet_status([flagged, plain], FleetFacts(NOW, BEAT))}
    assert flags["f"] == ("cloned",) and flags["g"] == ()
