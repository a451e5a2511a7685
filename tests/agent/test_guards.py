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


def test_the_ticker_runs_each_job_on_its_multiple_of_the_tick_and_survives_failures() -> None:
    from agent.ticker import Ticker

    runs: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    ticker = Ticker([(1, lambda: runs.append("a")), (2, lambda: runs.append("b")), (1, broken)])
    for _ in range(4):
        ticker.tick()
    assert runs == ["a", "a", "b", "a", "a", "b"]
    threaded = Ticker([(1, lambda: runs.append("t"))], tick_s=0.02)
    threaded.start()
    time.sleep(0.2)
    threaded.stop()
    assert runs.count("t") >= 3


def test_process_names_come_from_proc_and_only_new_pids_are_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    import psutil

    from agent.observe import processes

    reads: list[int] = []
    real = processes._name
    monkeypatch.setattr(processes, "_name", lambda pid: reads.append(pid) or real(pid))
    names = processes.ProcNames()
    first = dict(names())
    assert first[os.getpid()] == psutil.Process().name()
    reads.clear()
    names()
    assert os.getpid() not in reads  # known pids are not read again


def test_tamper_watch_sees_new_subdirectories_and_not_sqlite_writes(tmp_path: Path) -> None:
    import sqlite3

    events: list[pb.Event] = []
    db = sqlite3.connect(tmp_path / "other.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    watch = TamperWatch(events.append, [tmp_path], clock_check_s=None)
    watch.start()
    try:
        for i in range(20):  # a database written without closing it: no event at all
            db.execute("INSERT INTO t VALUES (?)", (i,))
        time.sleep(0.3)
        assert events == []
        (tmp_path / "code").mkdir()
        time.sleep(0.2)
        (tmp_path / "code" / "module.py").write_text("x = 1")
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watch.stop()
        db.close()
    assert [e.circumvention.detail.split(": ")[1] for e in events][-1].endswith("module.py")


def test_the_clock_tick_compares_with_the_previous_tick() -> None:
    events: list[pb.Event] = []
    watch = TamperWatch(events.append, [], clock_check_s=None)
    watch.tick()
    assert events == []
    watch._wall -= 3600  # as if the wall clock had been an hour behind at the last tick
    watch.tick()
    assert events[0].circumvention.kind == "clock_jump"
