"""Event rate limits: one token bucket per device and one for the whole collector process.

A batch is admitted whole or not at all. A refused batch is not lost: the agent is told to send
the same batch again (``Ack.retry``) and how fast it may send (``Throttle``), and keeps the events
in its spool meanwhile. The per-device limit is an abuse guard (a broken or hostile agent cannot
take more than its share of the collector); the global limit protects the database and is sized
to what the deployment measured (docs/scale.md), off by default.
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; starts full."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, n: int, now: float) -> float:
        """Seconds until ``n`` tokens are there (0 if they are now). Takes nothing."""
        self.refill(now)
        return 0.0 if self.tokens >= n else (n - self.tokens) / self.rate

    def take(self, n: int) -> None:
        self.tokens -= n


@dataclass(frozen=True, slots=True)
class Admission:
    ok: bool
    retry_after_s: float = 0.0
    max_events_per_second: int = 0  # the rate the agent should keep to (0: no hint)
    scope: str = ""  # "device" | "global" when refused


ADMITTED = Admission(True)


class EventRateLimit:
    """Per-device and global token buckets. ``0`` as a rate switches that limit off.

    A burst is never smaller than the largest batch (``min_burst``), so any batch the collector
    accepts by size can eventually be admitted.
    """

    def __init__(
        self,
        device_rate: float,
        device_burst: int,
        global_rate: float = 0.0,
        global_burst: int = 0,
        *,
        min_burst: int = 1,
    ) -> None:
        self.device_rate = device_rate
        self.device_burst = max(device_burst, min_burst)
        self._devices: dict[str, TokenBucket] = {}
        self.global_rate = global_rate
        self.global_burst = max(global_burst, min_burst)
        self._global: TokenBucket | None = None  # made full at the first batch

    def admit(self, device_id: str, n: int, now: float) -> Admission:
        """Take ``n`` events for ``device_id`` from both buckets, or neither."""
        device = self._device(device_id, now)
        if self._global is None and self.global_rate > 0:
            self._global = TokenBucket(self.global_rate, self.global_burst, updated=now)
        wait = device.wait_for(n, now) if device is not None else 0.0
        if wait > 0:
            return Admission(False, wait, int(self.device_rate), "device")
        if self._global is not None:
            wait = self._global.wait_for(n, now)
            if wait > 0:
                return Admission(False, wait, self._fair_share(), "global")
            self._global.take(n)
        if device is not None:
            device.take(n)
        return ADMITTED

    def forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no state a new bucket would not."""
        self._devices = {
            d: b for d, b in self._devices.items() if b.wait_for(int(b.burst), now) > 0
        }

    def _device(self, device_id: str, now: float) -> TokenBucket | None:
        if self.device_rate <= 0:
            return None
        bucket = self._devices.get(device_id)
        if bucket is None:
            if len(self._devices) >= 100_000:
                self.forget_idle(now)
            bucket = self._devices[device_id] = TokenBucket(
                self.device_rate, self.device_burst, updated=now
            )
        return bucket

    def _fair_share(self) -> int:
        """The global rate split over the devices seen recently (at least 1 event/s)."""
        assert self._global is not None
        return max(1, int(self._global.rate / max(1, len(self._devices))))
