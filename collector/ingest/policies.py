"""Each device's effective policy, as one ingest process serves it on the device's stream.

Resolving a device's policy (collector defaults, the console editor's notice, exclusions and
keywords, then its user's group policies) is about nine queries; at 10,000 streams doing it per
heartbeat was half the collector's CPU. So each process keeps the policy it resolved per device
and marks it stale when

* the policy generation moves (bumped in the same transaction by every policy, directory,
  keyword and enrolment edit, on any process; read at most every 2 s, one SELECT for all
  streams),
* the device's events show another OS user than it was resolved for (only when some group
  policy exists: otherwise every user gets the same policy), or
* it is older than ``policy_cache_seconds`` (a safety bound).

A stale policy is worked out again at the device's next heartbeat as the refresh budget
(``policy_refreshes_per_second``) allows, and served until then: after a fleet-wide edit the
fleet's policies are refreshed over several heartbeats, not all in the next one.
"""

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

from collector.directory.store import DirectoryStore
from collector.ingest.ratelimit import TokenBucket
from collector.settings import Settings
from collector.store import Store, policy_generation
from collector.store.interface import EventRow
from collector.web.policy import apply_to_base, local_keywords
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

# How often one process reads the policy generation (one SELECT shared by all its streams).
POLICY_GENERATION_CHECK_S = 2.0


def default_policy(settings: Settings) -> pb.Policy:
    """The policy every device starts from, before the console editor and group policies."""
    return pb.Policy(
        version=1,
        notice_text=(
            "This college device is monitored for safeguarding. Window titles and risk terms you "
            "type are checked to keep students safe; typed text never leaves this device. "
            "Questions: ask your college's Designated Safeguarding Lead."
        ),
        excluded_apps=["keepassxc", "keepass", "1password", "bitwarden", "lastpass"],
        capture_typed=True,
        capture_titles=True,
        heartbeat_seconds=settings.heartbeat_seconds,
    )


class _CachedPolicy(NamedTuple):
    policy: pb.Policy
    computed_at: float  # time.monotonic()
    os_user: str  # whose groups it was resolved for
    generation: int | None  # the policy generation when resolving began (-1: stale)


class _FleetPolicy(NamedTuple):
    generation: int | None
    read_at: float  # time.monotonic()
    base: pb.Policy
    keywords: list[pb.LocalKeyword]


class DevicePolicies:
    """The policies one ingest process serves, per device (see the module docstring)."""

    def __init__(self, store: Store, directory: DirectoryStore, settings: Settings) -> None:
        self.store = store
        self.directory = directory
        self.settings = settings
        rate = settings.policy_refreshes_per_second
        self.refreshes = TokenBucket(rate, max(1.0, rate), updated=time.monotonic())
        self._cached: dict[str, _CachedPolicy] = {}
        self._generation: int | None = None
        self._generation_read_at = -math.inf
        # Whether any group policy exists (read with the generation): only then does a
        # device's policy depend on who is logged in.
        self._group_policies = True
        self._fleet: _FleetPolicy | None = None

    def resolve(self, device_id: str) -> tuple[pb.Policy, str]:
        """The device's effective policy, read from the database: collector defaults refined by
        its groups' policies and those of the last OS user seen on it; and that user."""
        base, keywords = self._fleet_policy()
        effective = self.directory.policy_for_device(device_id, base)
        policy = effective.to_proto()
        policy.keywords.extend(keywords)
        # The version must change whenever anything the agent acts on does (keywords included).
        policy.version = 0
        digest = hashlib.sha256(policy.SerializeToString(deterministic=True)).digest()
        policy.version = int.from_bytes(digest[:7], "big")
        return policy, effective.os_user

    async def current(self, device_id: str) -> pb.Policy:
        """The policy to serve the device now: the cached one unless it is stale and the
        refresh budget allows working it out again."""
        await self.check_generation()
        now = time.monotonic()
        cached = self._cached.get(device_id)
        if cached is not None:
            fresh = (
                cached.generation == self._generation
                and now - cached.computed_at < self.settings.policy_cache_seconds
            )
            if fresh or self.refreshes.wait_for(1, now) > 0:
                return cached.policy
            self.refreshes.take(1)
        generation = self._generation
        policy, os_user = await asyncio.to_thread(self.resolve, device_id)
        # resolved across a generation move, it holds the one before: stale at once
        self._cached[device_id] = _CachedPolicy(policy, now, os_user, generation)
        return policy

    async def check_generation(self) -> None:
        """Mark every cached policy stale when the policy generation has moved (read at most
        every `POLICY_GENERATION_CHECK_S`; streams asking meanwhile use the cache)."""
        now = time.monotonic()
        if now - self._generation_read_at < POLICY_GENERATION_CHECK_S:
            return
        self._generation_read_at = now
        try:
            generation = await asyncio.to_thread(policy_generation.current, self.directory.engine)
            if generation != self._generation:
                self._group_policies = bool(await asyncio.to_thread(self.directory.list_policies))
        except Exception:  # the database may be restarting; policy_cache_seconds still bounds
            log.warning("could not read the policy generation", exc_info=True)
            return
        if generation != self._generation:
            if self._generation is not None:
                log.info(
                    "policy generation %d: %d cached policies to refresh (%g a second)",
                    generation,
                    len(self._cached),
                    self.settings.policy_refreshes_per_second,
                )
            self._generation = generation

    def note_users(self, device_id: str, rows: Sequence[EventRow]) -> None:
        """Events from another OS user than the device's cached policy was resolved for make it
        stale (checked at every stored batch, so a policy resolved while the batch was committed
        cannot stick)."""
        if not self._group_policies:
            return  # no group policies: every user of the device gets the same policy
        cached = self._cached.get(device_id)
        if cached is not None and any(r.os_user and r.os_user != cached.os_user for r in rows):
            self._cached[device_id] = cached._replace(generation=-1)

    def _fleet_policy(self) -> tuple[pb.Policy, list[pb.LocalKeyword]]:
        """What every device's policy starts from: the collector defaults with the console
        editor's notice and exclusions, and the editor's keywords. Read once per policy
        generation (at most policy_cache_seconds), not per device."""
        now = time.monotonic()
        fleet = self._fleet
        if (
            fleet is not None
            and fleet.generation == self._generation
            and now - fleet.read_at < self.settings.policy_cache_seconds
        ):
            return fleet.base, fleet.keywords
        base = apply_to_base(default_policy(self.settings), self.directory.engine)
        keywords = local_keywords(self.store)
        self._fleet = _FleetPolicy(self._generation, now, base, keywords)
        return base, keywords
