"""Monitoring coverage, computed on read from what devices last reported.

Nothing here is stored: a device's status is a function of its row, the expected heartbeat and
"now", so it can never go stale. Two separate questions are answered:

* **connected** — is the agent talking to us? From `last_seen_at` (any heartbeat or batch):
  ``online`` (seen within a few heartbeats), ``offline`` (seen, but not lately),
  ``missing`` (not seen for `MISSING_AFTER`), ``never_connected`` (enrolled, never heard from).
* **reporting** — is it actually monitoring? From `last_event_at` (events stored), in the last
  24 hours and 7 days. A laptop can heartbeat all day while blind and report nothing.

Problems are flags beside the status: ``blind`` (window or keyboard access missing),
``outdated`` (agent older than the newest in the fleet or a required minimum), ``tampered``
(circumvention signs recently), ``cloned`` (two live agents presented one identity at once — a
disk image copied after enrolment), ``revoked``; and, for information, ``shared``.

A device record is one enrolment. Each person who signs in to a shared laptop runs and enrols
their own agent (docs/installers.md), so one **machine** — a hardware serial, else a hostname —
can have several records: that is ``shared``, not ``cloned`` (a re-imaged laptop is the same: a
new record beside the old one). Coverage counts machines, so a laptop counts once however many
students use it.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from collector.store.interface import DeviceRecord

Connection = Literal["online", "offline", "missing", "never_connected"]
CONNECTIONS: tuple[Connection, ...] = ("online", "offline", "missing", "never_connected")
FLAGS = ("blind", "outdated", "tampered", "cloned", "revoked", "shared")

# A device is online while its last contact is within this many heartbeat intervals: one lost
# heartbeat (a busy Wi-Fi roam) should not flap it to offline.
ONLINE_HEARTBEATS = 3
# Not seen for this long: IT should go and find the laptop.
MISSING_AFTER = timedelta(days=7)
REPORTING_DAY = timedelta(hours=24)
REPORTING_WEEK = timedelta(days=7)
# Capabilities that make a device blind when not "ok" (browser titles are a bonus, not coverage).
ESSENTIAL_CAPABILITIES = ("windows", "keyboard")


def version_key(version: str) -> tuple[int, ...]:
    """'1.10.2' > '1.9.0'; anything unparsable sorts first (and so counts as outdated)."""
    parts: list[int] = []
    for piece in version.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def connection(device: DeviceRecord, now: datetime, heartbeat: timedelta) -> Connection:
    """How the agent is connected, from last contact and the expected heartbeat."""
    if device.last_seen_at is None:
        return "never_connected"
    silent = now - device.last_seen_at
    if silent <= heartbeat * ONLINE_HEARTBEATS:
        return "online"
    if silent <= MISSING_AFTER:
        return "offline"
    return "missing"


def is_blind(capabilities: Mapping[str, str]) -> bool:
    """Blind when an essential capability has reported something other than ok."""
    return any(capabilities.get(name, "") not in ("", "ok") for name in ESSENTIAL_CAPABILITIES)


def machine_key(device: DeviceRecord) -> str:
    """The physical laptop a device record (an enrolment) is on: serial, else hostname."""
    serial = _norm(device.hardware_serial)
    return f"serial:{serial}" if serial else f"host:{_norm(device.hostname)}"


def reporting_within(device: DeviceRecord, now: datetime, window: timedelta) -> bool:
    return device.last_event_at is not None and now - device.last_event_at <= window


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """One device as IT and trustees see it."""

    device: DeviceRecord
    connection: Connection
    reporting_24h: bool
    reporting_7d: bool
    flags: tuple[str, ...]
    gaps_7d: int = 0  # events dropped on the device in the last 7 days (spool full, rate cap)

    @property
    def label(self) -> str:
        """The one word for a table: the worst thing about the device."""
        for flag in ("revoked", "tampered", "cloned", "blind"):
            if flag in self.flags:
                return flag
        if self.connection != "online":
            return self.connection
        return "outdated" if "outdated" in self.flags else "online"


@dataclass(frozen=True, slots=True)
class FleetFacts:
    """Facts from outside the device row that statuses need."""

    now: datetime
    heartbeat: timedelta
    # Agent version below which a device is outdated; None: the newest version in the fleet.
    minimum_version: str | None = None
    tampered_devices: frozenset[str] = frozenset()
    gaps_by_device: Mapping[str, int] = field(default_factory=dict)


def fleet_status(devices: Sequence[DeviceRecord], facts: FleetFacts) -> list[DeviceStatus]:
    """Status for every device; outdated and cloned need the whole fleet, so this takes it all."""
    active = [d for d in devices if not d.revoked]
    versions = [version_key(d.agent_version) for d in active if d.agent_version]
    if facts.minimum_version is not None:
        current = version_key(facts.minimum_version)
    else:
        current = max(versions, default=())
    profiles = Counter(machine_key(d) for d in active)
    out = []
    for d in devices:
        flags = []
        if is_blind(d.capabilities):
            flags.append("blind")
        if d.agent_version and version_key(d.agent_version) < current:
            flags.append("outdated")
        if d.id in facts.tampered_devices:
            flags.append("tampered")
        # Cloned: two live agents presented this one identity at once (a disk image copied after
        # enrolment; ingest flags it). Several enrolments on one machine are people sharing it.
        if d.clone_suspected_at is not None and not d.revoked:
            flags.append("cloned")
        if d.revoked:
            flags.append("revoked")
        elif profiles[machine_key(d)] > 1:
            flags.append("shared")
        out.append(
            DeviceStatus(
                device=d,
                connection=connection(d, facts.now, facts.heartbeat),
                reporting_24h=reporting_within(d, facts.now, REPORTING_DAY),
                reporting_7d=reporting_within(d, facts.now, REPORTING_WEEK),
                flags=tuple(flags),
                gaps_7d=int(facts.gaps_by_device.get(d.id, 0)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class ExpectedDevice:
    """A device the college's MDM says exists: a row of the directory's device inventory."""

    serial: str
    hostname: str
    site: str = ""
    group_name: str = ""


@dataclass(slots=True)
class CoverageRow:
    """Counts for one slice of the fleet (everything, a site or a group)."""

    name: str
    expected: int = 0
    enrolled: int = 0
    expected_enrolled: int = 0  # expected devices that have an enrolled agent
    online: int = 0
    reporting_24h: int = 0
    reporting_7d: int = 0
    blind: int = 0
    never_connected: int = 0
    missing: int = 0
    reporting_7d_expected: int = 0  # expected devices enrolled and reporting in 7 days

    @property
    def not_enrolled(self) -> int:
        return self.expected - self.expected_enrolled

    @property
    def coverage_percent(self) -> float | None:
        """Share of expected devices enrolled and reporting in the last 7 days."""
        if self.expected == 0:
            return None
        return 100.0 * self.reporting_7d_expected / self.expected


def _norm(value: str) -> str:
    return value.strip().lower()


def match_expected(
    expected: Sequence[ExpectedDevice], devices: Sequence[DeviceRecord]
) -> dict[str, ExpectedDevice]:
    """Enrolled device id → the expected device it is: by serial first, then by hostname."""
    by_serial = {_norm(e.serial): e for e in expected if e.serial}
    by_host = {_norm(e.hostname): e for e in expected if e.hostname}
    matched: dict[str, ExpectedDevice] = {}
    for d in devices:
        e = by_serial.get(_norm(d.hardware_serial)) if d.hardware_serial else None
        if e is None:
            e = by_host.get(_norm(d.hostname))
        if e is not None:
            matched[d.id] = e
    return matched


@dataclass(frozen=True, slots=True)
class CoverageReport:
    total: CoverageRow
    by_site: list[CoverageRow]
    by_group: list[CoverageRow]
    statuses: list[DeviceStatus]


def coverage_report(
    statuses: Sequence[DeviceStatus], expected: Sequence[ExpectedDevice]
) -> CoverageReport:
    """Expected against enrolled, reporting and blind — in total, by site and by group.

    Revoked devices are not counted as enrolled. An enrolled device's site and group come from
    the expected device it matches (the MDM knows where a laptop lives), else its enrolment group.
    """
    live = [s for s in statuses if "revoked" not in s.flags]
    matched = match_expected(expected, [s.device for s in live])
    total = CoverageRow("All devices")
    sites: dict[str, CoverageRow] = {}
    groups: dict[str, CoverageRow] = {}

    def rows_for(site: str, group: str) -> Iterable[CoverageRow]:
        yield total
        yield sites.setdefault(site, CoverageRow(site))
        yield groups.setdefault(group, CoverageRow(group))

    # One machine, however many enrolments: the expected device it matches (by serial, then
    # hostname), else its own serial or hostname. Several people's agents on a shared laptop, or
    # a re-image beside the old record, are one machine and count once.
    machines: dict[object, list[DeviceStatus]] = {}
    for s in live:
        e = matched.get(s.device.id)
        key: object = ("expected", id(e)) if e is not None else machine_key(s.device)
        machines.setdefault(key, []).append(s)
    enrolled_keys: set[int] = set()
    reporting_keys: set[int] = set()
    for s in live:
        e = matched.get(s.device.id)
        if e is not None:
            enrolled_keys.add(id(e))
            if s.reporting_7d:
                reporting_keys.add(id(e))
    for e in expected:
        for row in rows_for(e.site or "(no site)", e.group_name or "(no group)"):
            row.expected += 1
            row.expected_enrolled += id(e) in enrolled_keys
            row.reporting_7d_expected += id(e) in reporting_keys
    for profiles in machines.values():
        # The enrolment heard from last speaks for the machine's connection and capabilities.
        latest = max(
            profiles, key=lambda s: s.device.last_seen_at or datetime.min.replace(tzinfo=UTC)
        )
        e = matched.get(latest.device.id)
        site = (e.site if e else "") or "(no site)"
        group = (e.group_name if e else "") or latest.device.group_name or "(no group)"
        for row in rows_for(site, group):
            row.enrolled += 1
            row.online += latest.connection == "online"
            row.reporting_24h += any(s.reporting_24h for s in profiles)
            row.reporting_7d += any(s.reporting_7d for s in profiles)
            row.blind += "blind" in latest.flags
            row.never_connected += latest.connection == "never_connected"
            row.missing += latest.connection == "missing"
    return CoverageReport(
        total=total,
        by_site=sorted(sites.values(), key=lambda r: r.name),
        by_group=sorted(groups.values(), key=lambda r: r.name),
        statuses=list(statuses),
    )
