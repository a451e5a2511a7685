"""Tamper signs: the agent's own files or configuration changed, or the clock jumped.

watchdog reports changes to the installed code, /etc/lantern and the identity files; the agent's
own busy files (spool, status, policy cache) are ignored. A wall-clock jump against the monotonic
clock of more than two minutes is reported too (clock games defeat out-of-hours rules and
retention).
"""

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer as FileObserver

from lantern.v1 import lantern_pb2 as pb

CLOCK_CHECK_S = 10.0
CLOCK_JUMP_S = 120.0
# Files the agent itself rewrites all the time: changes to them are not tampering.
OWN_BUSY_FILES = ("spool.db", "status.json", "policy.bin", ".tmp", "-wal", "-shm", "-journal")
REPORT_EVERY_S = 60.0  # one report per path per minute, not one per write


def boot_clock() -> float:
    """A clock that keeps counting while the laptop sleeps, so waking from suspend is not a jump
    (Linux CLOCK_MONOTONIC stops during suspend; CLOCK_BOOTTIME does not)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    if hasattr(time, "CLOCK_MONOTONIC") and hasattr(time, "clock_gettime"):
        return time.clock_gettime(time.CLOCK_MONOTONIC)  # macOS: includes sleep
    return time.monotonic()  # Windows: QueryPerformanceCounter includes sleep


def _tamper_event(kind: str, detail: str) -> pb.Event:
    event = pb.Event()
    event.circumvention.CopyFrom(pb.CircumventionSign(kind=kind, detail=detail[:512]))
    return event


class _Handler(FileSystemEventHandler):
    def __init__(self, emit: Callable[[pb.Event], None]) -> None:
        self.emit = emit
        self._last: dict[str, float] = {}

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Directory events only echo the file events inside them.
        if event.is_directory or event.event_type in ("opened", "closed", "closed_no_write"):
            return
        path = str(event.src_path)
        if "__pycache__" in path or any(part in path for part in OWN_BUSY_FILES):
            return
        now = time.monotonic()
        if now - self._last.get(path, -REPORT_EVERY_S) < REPORT_EVERY_S:
            return
        self._last[path] = now
        self.emit(_tamper_event("tamper", f"{event.event_type}: {path}"))


class TamperWatch:
    def __init__(
        self,
        emit: Callable[[pb.Event], None],
        paths: Iterable[Path],
        *,
        clock_check_s: float = CLOCK_CHECK_S,
    ) -> None:
        self.emit = emit
        self.paths = [p for p in paths if p.exists()]
        self.clock_check_s = clock_check_s
        self._files = FileObserver()
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._watch_clock, name="lantern-clock", daemon=True)

    def start(self) -> None:
        handler = _Handler(self.emit)
        for path in self.paths:
            self._files.schedule(handler, str(path), recursive=path.is_dir())
        self._files.daemon = True
        self._files.start()
        self._clock.start()

    def stop(self) -> None:
        self._stop.set()
        self._files.stop()
        self._files.join(timeout=2)
        self._clock.join(timeout=2)

    def _watch_clock(self) -> None:
        wall, mono = time.time(), boot_clock()
        while not self._stop.wait(self.clock_check_s):
            self.check_clock(wall, mono, time.time(), boot_clock())
            wall, mono = time.time(), boot_clock()

    def check_clock(self, wall0: float, mono0: float, wall1: float, mono1: float) -> float:
        """Report a wall-clock jump between two samples; returns the jump in seconds."""
        jump = (wall1 - wall0) - (mono1 - mono0)
        if abs(jump) > CLOCK_JUMP_S:
            self.emit(_tamper_event("clock_jump", f"wall clock moved {jump:+.0f} s"))
        return jump
