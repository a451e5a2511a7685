"""Who is behind an event, as far as rules care: role, age band, site and groups.

Rules match `device_group`, `age_band`, `site` and `role` through a small :class:`SubjectResolver`.
The default knows only the device's enrolment group; the directory (collector.directory) supplies
a resolver that knows people (its `Subject` has the same attributes, so it fits as is).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class SubjectFacts(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def age_band(self) -> str: ...

    @property
    def site(self) -> str: ...

    @property
    def groups(self) -> tuple[str, ...]: ...

    @property
    def person_id(self) -> int | None: ...


class SubjectResolver(Protocol):
    def resolve(self, os_user: str, device_id: str, at: datetime) -> SubjectFacts: ...


@dataclass(frozen=True, slots=True)
class Facts:
    role: str = "unknown"
    age_band: str = "unknown"
    site: str = ""
    groups: tuple[str, ...] = ()
    person_id: int | None = None


UNKNOWN = Facts()


class DeviceGroupResolver:
    """Knows only `devices.group_name` (set by the enrolment token); cached for `ttl_s` seconds."""

    def __init__(self, lookup: Callable[[], dict[str, str | None]], ttl_s: float = 60.0) -> None:
        self._lookup = lookup
        self._ttl = ttl_s
        self._groups: dict[str, str | None] = {}
        self._loaded = -1e18
        self._missed: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, store: object, ttl_s: float = 60.0) -> "DeviceGroupResolver":
        def lookup() -> dict[str, str | None]:
            return {d.id: d.group_name for d in store.list_devices()}  # type: ignore[attr-defined]

        return cls(lookup, ttl_s)

    def resolve(self, os_user: str, device_id: str, at: datetime) -> SubjectFacts:
        now = time.monotonic()
        stale = now - self._loaded > self._ttl
        # A device not in the last load (enrolled since) reloads once per ttl, not per event.
        missing = (
            device_id not in self._groups and now - self._missed.get(device_id, -1e18) > self._ttl
        )
        if stale or missing:
            with self._lock:
                if missing:
                    self._missed[device_id] = now
                self._groups = self._lookup()
                self._loaded = time.monotonic()
        group = self._groups.get(device_id)
        return Facts(groups=(group,)) if group else UNKNOWN


class StaticResolver:
    """Fixed facts per (os_user, device_id) or per device; for tests and `rules test`."""

    def __init__(self, facts: dict[str, SubjectFacts] | None = None) -> None:
        self.facts = dict(facts or {})

    def resolve(self, os_user: str, device_id: str, at: datetime) -> SubjectFacts:
        return self.facts.get(f"{os_user}@{device_id}") or self.facts.get(device_id) or UNKNOWN


class CachedResolver:
    """Wraps a resolver that queries the database (the directory's) with a short TTL cache per
    (os_user, device): one lookup per login per `ttl_s`, not one per event."""

    def __init__(self, inner: SubjectResolver, ttl_s: float = 30.0, max_entries: int = 20_000):
        self.inner = inner
        self.ttl = ttl_s
        self.max = max_entries
        self._cache: dict[tuple[str, str], tuple[float, SubjectFacts]] = {}

    def resolve(self, os_user: str, device_id: str, at: datetime) -> SubjectFacts:
        key = (os_user, device_id)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        facts = self.inner.resolve(os_user, device_id, at)
        if len(self._cache) >= self.max:
            self._cache.clear()
        self._cache[key] = (now, facts)
        return facts
