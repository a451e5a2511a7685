"""Tamper signs: the agent's own files or configuration changed, or the clock jumped.

Changes to the installed code, /etc/lantern and the identity files are reported; the agent's own
busy files (spool, status, policy cache) are ignored. On Linux a single inotify thread watches
(:mod:`agent.observe.inotify`: no wake-up unless a watched file is written and closed); elsewhere
watchdog's observer does, imported only there. A wall-clock jump against the monotonic clock of
more than two minutes is reported too (clock games defeat out-of-hours rules and retention); the
runner checks it from the agent's one periodic thread (:mod:`agent.ticker`).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agent.observe import inotify
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

CLOCK_CHECK_S = 30.0
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


def ignored(path: str) -> bool:
    """Bytecode caches and the agent's own busy files are not tampering."""
    return "__pycache__" in path or any(part in path for part in OWN_BUSY_FILES)


class _Reporter:
    """One report per path per :data:`REPORT_EVERY_S`."""

    def __init__(self, emit: Callable[[pb.Event], None]) -> None:
        self.emit = emit
        self._last: dict[str, float] = {}

    def __call__(self, event_type: str, path: str) -> None:
        if not path or ignored(path):
            return
        now = time.monotonic()
        if now - self._last.get(path, -REPORT_EVERY_S) < REPORT_EVERY_S:
            return
        self._last[path] = now
        self.emit(_tamper_event("tamper", f"{event_type}: {path}"))


def _watchdog_observer(paths: list[Path], report: _Reporter) -> Any:
    """watchdog's observer (macOS, Windows, or a Linux without usable inotify)."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer as FileObserver

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # Directory events only echo the file events inside them.
            if event.is_directory or event.event_type in ("opened", "closed", "closed_no_write"):
                return
            report(event.event_type, str(event.src_path))

    observer = FileObserver()
    handler = Handler()
    for path in paths:
        observer.schedule(handler, str(path), recursive=path.is_dir())
    observer.daemon = True
    return observer


class TamperWatch:
    """File changes and clock jumps.

    ``clock_check_s``: the clock is checked from a thread of its own every so often; ``None``
    leaves it to the caller, who calls :meth:`tick` (the runner's :class:`~agent.ticker.Ticker`).
    """

    def __init__(
        self,
        emit: Callable[[pb.Event], None],
        paths: Iterable[Path],
        *,
        clock_check_s: float | None = CLOCK_CHECK_S,
    ) -> None:
        self.emit = emit
        self.paths = [p for p in paths if p.exists()]
        self.clock_check_s = clock_check_s
        self._files: Any = None
        self._stop = threading.Event()
        self._clock: threading.Thread | None = None
        self._wall, self._mono = time.time(), boot_clock()

    def start(self) -> None:
        report = _Reporter(self.emit)
        files: Any = None
        if inotify.available():
            try:
                files = inotify.InotifyWatch(self.paths, report, ignore=ignored)
                files.start()
            except OSError as exc:  # out of inotify instances or watches: fall back
                log.warning("inotify unavailable (%s): using watchdog", exc)
                files = None
        if files is None:
            files = _watchdog_observer(self.paths, report)
            files.start()
        self._files = files
        self._wall, self._mono = time.time(), boot_clock()
        if self.clock_check_s is not None:
            self._clock = threading.Thread(
                target=self._watch_clock, name="lantern-clock", daemon=True
            )
            self._clock.start()

    def stop(self) -> None:
        self._stop.set()
        files, self._files = self._files, None
        if isinstance(files, inotify.InotifyWatch):
            files.stop()
        elif files is not None:
            files.stop()
            files.join(timeout=2)
        if self._clock is not None:
            self._clock.join(timeout=2)

    def tick(self) -> None:
        """Compare the clocks with the previous tick (report a jump)."""
        wall, mono = time.time(), boot_clock()
        self.check_clock(self._wall, self._mono, wall, mono)
        self._wall, self._mono = wall, mono

    def _watch_clock(self) -> None:
        assert self.clock_check_s is not None
        while not self._stop.wait(self.clock_check_s):
            self.tick()

    def check_clock(self, wall0: float, mono0: float, wall1: float, mono1: float) -> float:
        """Report a wall-clock jump between two samples; returns the jump in seconds."""
        jump = (wall1 - wall0) - (mono1 - mono0)
        if abs(jump) > CLOCK_JUMP_S:
            self.emit(_tamper_event("clock_jump", f"wall clock moved {jump:+.0f} s"))
        return jump
