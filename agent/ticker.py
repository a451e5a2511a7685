"""The agent's one periodic thread: every guard that must look now and then shares its wake-ups.

The self-watchdog (CPU/memory, every 15 s), the clock-jump check and the circumvention process
scan (every 30 s) used to run on three threads with three unrelated timers (12 s, 10 s, 30 s):
about 13 wake-ups a minute. Coalesced on multiples of one tick they cost 4, and the thread sleeps
in one ``Event.wait`` in between. Everything else in the agent waits for events, not time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

TICK_S = 15.0


class Ticker:
    """Runs each ``(every_n_ticks, job)`` on its tick; a failing job is logged, never fatal."""

    def __init__(
        self, jobs: Sequence[tuple[int, Callable[[], object]]], *, tick_s: float = TICK_S
    ) -> None:
        self.jobs = [(max(1, int(n)), job) for n, job in jobs]
        self.tick_s = tick_s
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lantern-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self) -> None:
        self.ticks += 1
        for every, job in self.jobs:
            if self.ticks % every == 0:
                try:
                    job()
                except Exception as exc:
                    log.error("periodic job %s failed: %s", getattr(job, "__qualname__", job), exc)

    def _run(self) -> None:
        # Sleep to absolute deadlines so the period does not drift with the jobs' own time.
        deadline = time.monotonic() + self.tick_s
        while not self._stop.wait(max(0.0, deadline - time.monotonic())):
            self.tick()
            deadline += self.tick_s
            now = time.monotonic()
            if deadline < now:  # the laptop slept or the jobs overran: no catch-up burst
                deadline = now + self.tick_s
