"""Streams the spool to the collector: lease → send → commit on ack, heartbeats, reconnect with
full-jitter backoff. Never needs a manual restart."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.spool import Spool
from agent.transport import Stream, Transport, TransportError
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 300.0
# A refused device (revoked, unknown) retries slowly: IT may re-enable it, and hammering helps no one.
REFUSED_BACKOFF_S = 300.0
# How long the rate a collector asked for (Throttle) is kept after its last Throttle message.
THROTTLE_HOLD_S = 60.0


@dataclass
class SenderState:
    """What `lantern-agent status` reports about the link."""

    connected: bool = False
    last_ack_at: float | None = None
    last_error: str = ""
    refused: str = ""
    policy_version: int = 0
    events_acked: int = 0
    reconnects: int = 0
    throttles: int = 0  # Throttle messages received (the collector's rate limit)


@dataclass
class SenderConfig:
    device_id: str
    device_secret: str
    agent_version: str
    batch_size: int = 100
    max_in_flight: int = 4
    heartbeat_s: float = 30.0
    capabilities: Callable[[], pb.Capabilities] = field(default=pb.Capabilities)
    # One per agent process: lets the collector tell a reconnect from a cloned identity.
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Sender:
    def __init__(
        self,
        spool: Spool,
        transport: Transport,
        config: SenderConfig,
        on_policy: Callable[[pb.Policy], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.spool = spool
        self.transport = transport
        self.config = config
        self.on_policy = on_policy
        # Called on the event loop whenever `state` changes (status is written on change).
        self.on_change = on_change or (lambda: None)
        self.state = SenderState()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: set[int] = set()
        self._slot_free = asyncio.Event()
        # Pacing asked for by the collector: no batch before _send_after (monotonic), and at
        # most _max_rate events/s (0: unlimited) until _rate_until.
        self._send_after = 0.0
        self._max_rate = 0
        self._rate_until = 0.0

    @property
    def in_flight(self) -> int:
        """Batches sent on the current stream and not yet acked."""
        return len(self._in_flight)

    def wake(self) -> None:
        """Called from any thread when the spool has something new."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        attempt = 0
        while not stop.is_set():
            delay: float
            try:
                await self._session(stop)
                attempt = 0
                delay = 0.0 if stop.is_set() else BACKOFF_BASE_S
            except Refused as exc:
                self.state.refused = exc.code
                self.state.last_error = str(exc)
                log.error("collector refused this device: %s", exc)
                delay = REFUSED_BACKOFF_S
            except (TransportError, ConnectionError, OSError) as exc:
                self.state.last_error = str(exc)
                if self.state.connected:
                    attempt = 0  # the session had connected: start the backoff again from its base
                attempt += 1
                # Full jitter (AWS architecture blog): spreads a fleet's reconnects after an outage.
                delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
                log.info("collector unreachable (%s); retrying in %.1fs", exc, delay)
            finally:
                self.state.connected = False
                self.on_change()
            if delay:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        stream = await self.transport.connect()
        async with stream:
            await stream.write(
                pb.AgentMessage(
                    hello=pb.Hello(
                        device_id=self.config.device_id,
                        device_secret=self.config.device_secret,
                        agent_version=self.config.agent_version,
                        policy_version=self.state.policy_version,
                        session_id=self.config.session_id,
                    )
                )
            )
            first = await stream.read()
            if first is None:
                raise TransportError("collector closed the stream after hello")
            self._handle(first)
            self.state.connected = True
            self.state.refused = ""
            self.state.reconnects += 1
            self.on_change()
            self.spool.release_all()
            self._in_flight.clear()
            reader = asyncio.create_task(self._read(stream))
            writer = asyncio.create_task(self._write(stream, stop))
            stopper = asyncio.create_task(stop.wait())
            done, pending = await asyncio.wait(
                {reader, writer, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            errors = [e for t in done if t is not stopper and (e := t.exception()) is not None]
            if errors:
                raise errors[0]

    async def _read(self, stream: Stream) -> None:
        while True:
            message = await stream.read()
            if message is None:
                raise TransportError("collector closed the stream")
            self._handle(message)

    def _handle(self, message: pb.CollectorMessage) -> None:
        body = message.WhichOneof("body")
        if body == "ack":
            ack = message.ack
            self._in_flight.discard(ack.batch_id)
            self._slot_free.set()
            if ack.retry:
                self.spool.release(ack.batch_id)
                self._wake.set()
                if ack.max_batch_events:
                    self.config.batch_size = max(
                        1, min(self.config.batch_size, ack.max_batch_events)
                    )
                # After a Throttle this is expected (info); otherwise something is wrong.
                throttled = time.monotonic() < self._send_after
                log.log(
                    logging.INFO if throttled else logging.WARNING,
                    "collector asked for the batch again: %s",
                    ack.reason,
                )
                return
            if ack.rejected:
                log.warning("collector rejected %d events: %s", ack.rejected, ack.reason)
            self.state.events_acked += self.spool.commit(ack.batch_id)
            self.state.last_ack_at = time.time()
            self.on_change()
        elif body == "policy":
            self.state.policy_version = message.policy.version
            self.on_change()
            if message.policy.heartbeat_seconds:
                self.config.heartbeat_s = float(message.policy.heartbeat_seconds)
            if self.on_policy is not None:
                self.on_policy(message.policy)
        elif body == "refusal":
            raise Refused(message.refusal.code, message.refusal.message)
        elif body == "throttle":
            self._throttle(message.throttle, time.monotonic())

    def _throttle(self, throttle: pb.Throttle, now: float) -> None:
        """Pause for retry_after, then keep to the rate asked for a while. The refused batch
        was released by its retry ack and is sent again after the pause: nothing is lost."""
        self.state.throttles += 1
        self._send_after = max(self._send_after, now + throttle.retry_after_ms / 1000)
        if throttle.max_events_per_second:
            self._max_rate = throttle.max_events_per_second
            self._rate_until = now + THROTTLE_HOLD_S
        log.info(
            "collector asks for at most %d events/s; pausing %d ms",
            throttle.max_events_per_second,
            throttle.retry_after_ms,
        )

    async def _write(self, stream: Stream, stop: asyncio.Event) -> None:
        next_heartbeat = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                await stream.write(pb.AgentMessage(heartbeat=self._heartbeat()))
                next_heartbeat = now + self.config.heartbeat_s
            if len(self._in_flight) >= self.config.max_in_flight:
                self._slot_free.clear()
                await _wait_for(self._slot_free, next_heartbeat - time.monotonic())
                continue
            if now < self._send_after:
                await _wait_for(stop, min(self._send_after, next_heartbeat) - now)
                continue
            self._wake.clear()
            batch_id, events = self.spool.lease(self.config.batch_size)
            if events:
                self._in_flight.add(batch_id)
                await stream.write(
                    pb.AgentMessage(batch=pb.EventBatch(batch_id=batch_id, events=events))
                )
                if self._max_rate and now < self._rate_until:
                    self._send_after = max(self._send_after, now + len(events) / self._max_rate)
                continue
            await _wait_for(self._wake, next_heartbeat - time.monotonic())

    def _heartbeat(self) -> pb.Heartbeat:
        stats = self.spool.stats()
        hb = pb.Heartbeat(spool_depth=stats.depth, capabilities=self.config.capabilities())
        hb.sent_at.GetCurrentTime()
        if stats.oldest_created_at is not None:
            hb.oldest_spooled_at.FromNanoseconds(int(stats.oldest_created_at * 1e9))
        return hb


async def _wait_for(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    except TimeoutError:
        pass
