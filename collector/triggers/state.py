"""Rule state in memory: for `rules test` replays, `scan`, benchmarks and unit tests.

The collector itself uses collector.alerts.store.SqlTriggerState, bound to the ingest transaction.
"""

import bisect
from collections import defaultdict
from datetime import datetime, timedelta


class MemoryTriggerState:
    """TriggerState (collector.store.interface) kept in dictionaries."""

    def __init__(self) -> None:
        self.hits: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        self.suppressions: dict[str, datetime] = {}
        self.alerts: dict[str, list[datetime]] = defaultdict(list)

    def record_hit(self, key: str, at: datetime, device_id: str, keep: timedelta) -> None:
        bisect.insort(self.hits[key], (at, device_id))

    def count_hits(self, key: str, since: datetime, until: datetime) -> int:
        return sum(1 for at, _ in self.hits.get(key, ()) if since <= at <= until)

    def distinct_devices(self, key: str, since: datetime, until: datetime) -> int:
        return len({d for at, d in self.hits.get(key, ()) if since <= at <= until})

    def suppressed_until(self, key: str) -> datetime | None:
        return self.suppressions.get(key)

    def suppress(self, key: str, until: datetime) -> None:
        self.suppressions[key] = until

    def alerts_since(self, dedup_key: str, since: datetime) -> int:
        return sum(1 for at in self.alerts.get(dedup_key, ()) if at >= since)

    def note_alert(self, dedup_key: str, at: datetime, dedup_window: timedelta) -> None:
        """The engine calls this for every single candidate; like the store, a repeat within the
        dedup window folds into the previous alert and is not a new one."""
        seen = self.alerts[dedup_key]
        if not seen or at - seen[-1] > dedup_window:
            seen.append(at)
