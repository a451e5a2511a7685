"""Group commit: batches from every stream wait a moment and are stored together.

One transaction per batch made ingest statement-bound (a per-batch SELECT, INSERT, UPDATE and an
fsync, behind SQLite's single writer); one transaction for everything queued while the previous
commit ran is what reached the issue 6/9 latency figure (docs/scale.md). Each stream still gets its
ack only after the commit that holds its batch.
"""

import asyncio
import logging
from collections.abc import Sequence

from collector.store import IngestResult, Store
from collector.store.interface import EventRow, TriggerFn

log = logging.getLogger(__name__)

# A group stops growing at this many events, so one commit stays short.
MAX_GROUP_EVENTS = 5_000
CHECKPOINT_S = 1.0
CHECKPOINT_EVENTS = 5_000
CHECKPOINT_IDLE_S = 30.0


class GroupCommitter:
    def __init__(self, store: Store, triggers: TriggerFn, writers: int = 1) -> None:
        """`writers` parallel commits: 1 for SQLite (one writer anyway), 2-4 for PostgreSQL,
        which is idle between one writer's commits."""
        self.store = store
        self.triggers = triggers
        self.writers = writers
        self._queue: (
            asyncio.Queue[tuple[Sequence[EventRow], asyncio.Future[IngestResult]]] | None
        ) = None
        self._tasks: list[asyncio.Task[None]] = []
        self._since_checkpoint = 0

    async def submit(self, rows: Sequence[EventRow]) -> IngestResult:
        """Store one batch; returns after the commit that holds it (raises if that failed)."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._tasks = [asyncio.create_task(self._write()) for _ in range(self.writers)]
            self._tasks.append(asyncio.create_task(self._checkpoints()))
        done: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((rows, done))
        return await done

    async def _write(self) -> None:
        assert self._queue is not None
        while True:
            group = [await self._queue.get()]
            size = len(group[0][0])
            while not self._queue.empty() and size < MAX_GROUP_EVENTS:
                item = self._queue.get_nowait()
                group.append(item)
                size += len(item[0])
            try:
                results = await asyncio.to_thread(
                    self.store.ingest_many, [rows for rows, _ in group], self.triggers
                )
            except Exception as exc:  # every waiting stream learns it; none is acked
                log.exception("group commit of %d batches failed", len(group))
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self._since_checkpoint += size
            for (_, done), result in zip(group, results, strict=True):
                if not done.done():
                    done.set_result(result)

    async def _checkpoints(self) -> None:
        """The store's checkpoint (SQLite's WAL) beside the commits, not inside one of them."""
        last = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(CHECKPOINT_S)
            # Busy: every second. Quiet: every 30 s, so a trickle of one-event commits is not
            # sharing the disk's flushes with a checkpoint's every second.
            now = asyncio.get_running_loop().time()
            if self._since_checkpoint < CHECKPOINT_EVENTS and now - last < CHECKPOINT_IDLE_S:
                continue
            self._since_checkpoint, last = 0, now
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except Exception:  # the next one catches up
                log.exception("checkpoint failed")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
