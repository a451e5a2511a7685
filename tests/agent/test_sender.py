"""The sender against an in-memory collector: commit only on ack, resend after a broken stream."""

import asyncio
import time
from pathlib import Path

from agent.sender import Sender, SenderConfig
from agent.spool import Spool
from agent.transport import Stream, Transport, TransportError
from lantern.v1 import lantern_pb2 as pb


class MemoryCollector(Transport):
    """Acks every batch unless told to break the stream after N batches."""

    def __init__(
        self,
        break_after: int | None = None,
        retry_first: bool = False,
        throttle_first: pb.Throttle | None = None,
    ) -> None:
        self.received: list[str] = []
        self.throttle_first = throttle_first
        self.batch_times: list[float] = []  # time.monotonic() of each batch received
        self.break_after = break_after
        self.retry_first = retry_first
        self.connections = 0
        self.heartbeats = 0

    async def enrol(self, request: pb.EnrolRequest) -> pb.EnrolResponse:
        return pb.EnrolResponse(device_id="d1", device_secret="s")

    async def connect(self) -> Stream:
        self.connections += 1
        return MemoryStream(self)


class MemoryStream(Stream):
    def __init__(self, server: MemoryCollector) -> None:
        self.server = server
        self.out: asyncio.Queue[pb.CollectorMessage | None] = asyncio.Queue()
        self.batches = 0

    async def write(self, message: pb.AgentMessage) -> None:
        body = message.WhichOneof("body")
        if body == "hello":
            await self.out.put(
                pb.CollectorMessage(policy=pb.Policy(version=7, heartbeat_seconds=30))
            )
        elif body == "heartbeat":
            self.server.heartbeats += 1
        elif body == "batch":
            self.batches += 1
            self.server.batch_times.append(time.monotonic())
            if self.server.throttle_first is not None:
                throttle, self.server.throttle_first = self.server.throttle_first, None
                await self.out.put(pb.CollectorMessage(throttle=throttle))
                await self.out.put(
                    pb.CollectorMessage(ack=pb.Ack(batch_id=message.batch.batch_id, retry=True))
                )
                return
            if self.server.break_after is not None and self.batches > self.server.break_after:
                self.server.break_after = None  # break once
                await self.out.put(None)
                raise TransportError("connection reset")
            if self.server.retry_first:
                self.server.retry_first = False
                await self.out.put(
                    pb.CollectorMessage(
                        ack=pb.Ack(batch_id=message.batch.batch_id, retry=True, max_batch_events=2)
                    )
                )
                return
            self.server.received.extend(e.event_id for e in message.batch.events)
            await self.out.put(
                pb.CollectorMessage(
                    ack=pb.Ack(batch_id=message.batch.batch_id, stored=len(message.batch.events))
                )
            )

    async def read(self) -> pb.CollectorMessage | None:
        return await self.out.get()

    async def close(self) -> None:
        pass


def focus(i: int) -> pb.Event:
    event = pb.Event()
    event.window_focus.title = f"t{i}"
    return event


async def _drain(
    spool: Spool, server: MemoryCollector, batch_size: int = 3, max_in_flight: int = 4
) -> Sender:
    config = SenderConfig("d1", "s", "0", batch_size=batch_size, max_in_flight=max_in_flight)
    sender = Sender(spool, server, config)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if spool.stats().depth == 0:
            break
    stop.set()
    await asyncio.wait_for(task, 5)
    return sender


def test_every_event_is_sent_and_committed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    ids = []
    for i in range(10):
        event = focus(i)
        spool.append(event)
        ids.append(event.event_id)
    server = MemoryCollector()
    sender = asyncio.run(_drain(spool, server))
    assert sorted(server.received) == sorted(ids)
    assert spool.stats().depth == 0
    assert sender.state.policy_version == 7
    assert server.heartbeats >= 1


def test_a_broken_stream_resends_unacked_events(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    ids = []
    for i in range(10):
        event = focus(i)
        spool.append(event)
        ids.append(event.event_id)
    server = MemoryCollector(break_after=1)
    asyncio.run(_drain(spool, server))
    assert set(server.received) == set(ids)  # at-least-once; the collector dedups by id
    assert server.connections >= 2
    assert spool.stats().depth == 0


def test_retry_ack_keeps_the_batch_and_shrinks_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    for i in range(5):
        spool.append(focus(i))
    server = MemoryCollector(retry_first=True)
    sender = asyncio.run(_drain(spool, server, batch_size=5))
    assert len(server.received) == 5
    assert sender.config.batch_size == 2


def test_a_throttle_pauses_then_paces_and_the_refused_batch_is_sent_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "u")
    for i in range(30):
        spool.append(focus(i))
    server = MemoryCollector(
        throttle_first=pb.Throttle(max_events_per_second=100, retry_after_ms=300)
    )
    # One batch in flight, so the order is fixed (with more, the batches already sent when the
    # Throttle arrives are refused the same way and sent again after the pause).
    sender = asyncio.run(_drain(spool, server, batch_size=10, max_in_flight=1))
    assert len(server.received) == 30 and spool.stats().depth == 0
    assert sender.state.throttles == 1
    # 1 refused + 3 stored batches: the resend waited for retry_after, then 10 events per
    # 0.1 s at 100 events/s (the batches would otherwise go out back to back).
    t = server.batch_times
    assert len(t) == 4
    assert t[1] - t[0] >= 0.29
    assert t[2] - t[1] >= 0.09 and t[3] - t[2] >= 0.09
