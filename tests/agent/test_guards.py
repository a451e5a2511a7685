"""Self-watchdog, circumvention and tamper signs."""

import threading
import time
from pathlib import Path

from agent.limits import EXIT_CODE_MEMORY, SelfWatchdog
from agent.observe.processes import CircumventionScanner, classify
from agent.observe.tamper import TamperWatch
from lantern.v1 import lantern_pb2 as pb


def test_the_watchdog_names_the_busy_thread_restarts_and_backs_off() -> None:
    events: list[pb.Event] = []
    restarts: list[int] = []
    dog = SelfWatchdog(
        events.append,
        lambda: restarts.append(1),
        cpu_limit=5.0,
        memory_limit_mib=1e9,
        exit_process=lambda code: None,
    )
    me = threading.get_native_id()
    usage = dog.check({me: 0.0}, {me: 1.2}, elapsed=12.0)  # 10% of one core
    assert usage.cpu_percent > 9 and usage.top_thread == threading.current_thread().name
    assert restarts == [1]
    tripped = events[0].limit_tripped
    assert (tripped.resource, tripped.action) == ("cpu", "restarted_observer")
    dog.check({me: 0.0}, {me: 1.2}, elapsed=12.0)  # inside the back-off: reported once
    assert restarts == [1] and len(events) == 1
    dog.check({me: 0.0}, {me: 0.1}, elapsed=12.0)  # under the limit: nothing
    assert len(events) == 1


def test_the_watchdog_exits_over_the_memory_limit() -> None:
    events: list[pb.Event] = []
    exits: list[int] = []
    dog = SelfWatchdog(events.append, lambda: None, memory_limit_mib=1.0, exit_process=exits.append)
    dog.check({}, {}, elapsed=12.0)
    assert exits == [EXIT_CODE_MEMORY]
    assert events[0].limit_tripped.resource == "memory"


def test_known_circumvention_tools_are_classified() -> None:
    assert classify("NordVPN.exe") == "vpn"
    assert classify("tor") == "tor"
    assert classify("psiphon3.exe") == "proxy"
    assert classify("chromium") is None and classify("python3") is None


def test_each_circumvention_process_is_reported_once_while_it_runs() -> None:
    running = [(10, "openvpn"), (11, "xterm")]
    events: list[pb.Event] = []
    scanner = CircumventionScanner(events.append, processes=lambda: list(running))
    scanner.scan()
    scanner.scan()
    assert [e.circumvention.kind for e in events] == ["vpn"]
    running.append((12, "tor"))
    scanner.scan()
    assert [e.circumvention.kind for e in events] == ["vpn", "tor"]


def test_changes_to_watched_files_are_tamper_and_own_busy_files_are_not(tmp_path: Path) -> None:
    events: list[pb.Event] = []
    watch = TamperWatch(events.append, [tmp_path], clock_check_s=3600)
    watch.start()
    try:
        (tmp_path / "spool.db").write_bytes(b"busy")
        (tmp_path / "status.json").write_text("{}")
        time.sleep(0.3)
        assert events == []
        (tmp_path / "identity.json").write_text("{}")
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watch.stop()
    assert events and events[0].circumvention.kind == "tamper"
    assert "identity.json" in events[0].circumvention.detail


def test_clock_jumps_are_reported_but_normal_drift_is_not() -> None:
    events: list[pb.Event] = []
    watch = TamperWatch(events.append, [])
    assert abs(watch.check_clock(1000.0, 50.0, 1010.5, 60.0)) < 1
    assert events == []
    watch.check_clock(1000.0, 50.0, 4610.0, 60.0)  # an hour forward in ten seconds
    assert events[0].circumvention.kind == "clock_jump"
