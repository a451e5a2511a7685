"""The agent's self-watchdog: a monitoring agent must never be what makes a laptop slow.

Every window (15 s, close to osquery's 12 s, on the agent's shared tick: :mod:`agent.ticker`) it
reads its own CPU time per thread and its memory. Limits sit well under osquery's "normal" profile
(10% CPU over 12 s, 200 MB): 5% and 150 MB RSS.
Over the CPU limit, the thread that used most is named, the observer is restarted with backoff,
and a LimitTripped event is spooled. Over the memory limit the agent reports and exits non-zero so
its service manager (systemd Restart=on-failure, the logon task, launchd KeepAlive) starts it fresh.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

WINDOW_S = 15.0
CPU_LIMIT_PERCENT = 5.0
MEMORY_LIMIT_MIB = 150.0
RESTART_BACKOFF_S = (30.0, 120.0, 600.0)
EXIT_CODE_MEMORY = 75  # EX_TEMPFAIL: restart me


@dataclass
class Usage:
    cpu_percent: float
    rss_mib: float
    top_thread: str


class SelfWatchdog:
    def __init__(
        self,
        emit: Callable[[pb.Event], None],
        restart_observer: Callable[[], None],
        *,
        window_s: float = WINDOW_S,
        cpu_limit: float = CPU_LIMIT_PERCENT,
        memory_limit_mib: float = MEMORY_LIMIT_MIB,
        exit_process: Callable[[int], None] = os._exit,
    ) -> None:
        self.emit = emit
        self.restart_observer = restart_observer
        self.window_s = window_s
        self.cpu_limit = cpu_limit
        self.memory_limit_mib = memory_limit_mib
        self.exit_process = exit_process
        self.trips = 0
        self.last_usage: Usage | None = None
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lantern-watchdog", daemon=True)
        self._not_before = 0.0
        self._before: dict[int, float] | None = None
        self._started = 0.0

    def start(self) -> None:
        """Check from a thread of its own every ``window_s`` (the runner uses :meth:`tick`)."""
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def tick(self) -> Usage | None:
        """Check the window since the previous tick (the first tick only takes a sample)."""
        after, now = self._thread_times(), time.monotonic()
        before, started = self._before, self._started
        self._before, self._started = after, now
        if before is None:
            return None
        return self.check(before, after, now - started)

    def _thread_times(self) -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in self._process.threads()}

    def _run(self) -> None:
        self.tick()
        while not self._stop.wait(self.window_s):
            self.tick()

    def check(self, before: dict[int, float], after: dict[int, float], elapsed: float) -> Usage:
        """Compare two per-thread CPU samples `elapsed` seconds apart and act on the limits."""
        used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
        cpu_percent = 100.0 * sum(used.values()) / max(elapsed, 1e-6)
        top_id = max(used, key=lambda tid: used[tid]) if used else 0
        names = {t.native_id: t.name for t in threading.enumerate()}
        usage = Usage(
            cpu_percent=cpu_percent,
            rss_mib=self._process.memory_info().rss / 2**20,
            top_thread=names.get(top_id, f"thread {top_id}"),
        )
        self.last_usage = usage
        if usage.rss_mib > self.memory_limit_mib:
            self._report(
                "memory", usage.rss_mib, self.memory_limit_mib, usage.top_thread, "exiting"
            )
            log.error("memory %.0f MiB over the limit: exiting to be restarted", usage.rss_mib)
            self.exit_process(EXIT_CODE_MEMORY)
        elif cpu_percent > self.cpu_limit and time.monotonic() >= self._not_before:
            self._report("cpu", cpu_percent, self.cpu_limit, usage.top_thread, "restarted_observer")
            backoff = RESTART_BACKOFF_S[min(self.trips, len(RESTART_BACKOFF_S) - 1)]
            self.trips += 1
            self._not_before = time.monotonic() + backoff
            log.warning(
                "CPU %.1f%% over %.0f%% (most in %s): restarting the observer, next in %.0f s",
                cpu_percent,
                self.cpu_limit,
                usage.top_thread,
                backoff,
            )
            self.restart_observer()
        return usage

    def _report(
        self, resource: str, value: float, limit: float, component: str, action: str
    ) -> None:
        event = pb.Event()
        event.limit_tripped.CopyFrom(
            pb.LimitTripped(
                resource=resource, value=value, limit=limit, component=component, action=action
            )
        )
        self.emit(event)
