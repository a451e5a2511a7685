"""Who is connected, written in bulk: last-seen, capabilities and spool depth from heartbeats are
kept in memory and flushed in one statement every few seconds; the revoked devices are read in one
query every two seconds for all open streams. Per-heartbeat writes and per-stream revocation reads
were what 10,000 streams queued behind (docs/scale.md)."""

import asyncio
import logging
from datetime import datetime

from collector.clock import utcnow
from collector.store import Store

log = logging.getLogger(__name__)

FLUSH_S = 5.0
REVOKED_REFRESH_S = 2.0


class Presence:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, tuple[datetime, dict[str, str] | None, int | None]] = {}
        self._revoked: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    def _ensure_running(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def seen(
        self,
        device_id: str,
        capabilities: dict[str, str] | None = None,
        spool_depth: int | None = None,
    ) -> None:
        """Note that a device was heard from (with its heartbeat's facts, if any)."""
        self._ensure_running()
        previous = self._pending.get(device_id)
        if previous is not None and capabilities is None:
            capabilities, spool_depth = previous[1], previous[2]
        self._pending[device_id] = (utcnow(), capabilities, spool_depth)

    def is_revoked(self, device_id: str) -> bool:
        self._ensure_running()
        return device_id in self._revoked

    async def refresh(self) -> None:
        """Read the revoked set and write what is pending (also used at shutdown)."""
        self._revoked = frozenset(await asyncio.to_thread(self.store.revoked_devices))
        if self._pending:
            items, self._pending = self._pending, {}
            await asyncio.to_thread(self.store.record_heartbeats, items)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_flush = loop.time()
        while True:
            try:
                self._revoked = frozenset(await asyncio.to_thread(self.store.revoked_devices))
                if loop.time() - last_flush >= FLUSH_S and self._pending:
                    items, self._pending = self._pending, {}
                    await asyncio.to_thread(self.store.record_heartbeats, items)
                    last_flush = loop.time()
            except Exception:  # the database may be restarting; keep the streams up and retry
                log.exception("presence flush failed; retrying")
            await asyncio.sleep(REVOKED_REFRESH_S)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            try:
                await self.refresh()
            except Exception:
                log.exception("final presence flush failed")
