"""A small TCP proxy (asyncio) between agents and the collector that can cut the network path.

`cut()` aborts every open connection (both sides see a reset) and, until `restore()`, accepts new
connections only to drop them at once, as a broken firewall or a Wi-Fi drop does. `stall_replies()`
stops forwarding collector→agent bytes first, so batches the collector committed lose their acks
in flight: the case where the agent must re-send and the collector must deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.address = ""
        self.up = True
        self.replies_flowing = asyncio.Event()
        self.replies_flowing.set()
        self.connections = 0
        self.cuts = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
        # The cut aborted every connection, so the handlers finish by themselves; cancelling them
        # would make asyncio's start_server log each cancelled handler as an error.
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=5)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self) -> None:
        self.up = False
        self.cuts += 1
        for a, b in list(self._pairs):
            a.transport.abort()
            b.transport.abort()
        self._pairs.clear()
        self.replies_flowing.set()

    def restore(self) -> None:
        self.up = True

    def stall_replies(self) -> None:
        self.replies_flowing.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        await asyncio.gather(
            self._pipe(reader, up_writer, None),
            self._pipe(up_reader, writer, self.replies_flowing),
            return_exceptions=True,
        )
        self._pairs.discard(pair)
        for w in pair:
            with contextlib.suppress(Exception):
                w.transport.abort()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if gate is not None:
                    await gate.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
