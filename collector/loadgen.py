"""`lantern-collector loadgen`: a simulated fleet of enrolled agents over real gRPC.

One process, one asyncio loop, N agents: each agent enrols with its own identity (one multi-use
enrolment token), opens its own Connect stream (many streams share a few HTTP/2 connections, each a
separate TCP connection), says Hello, waits for the Policy, then sends heartbeats and batches of
realistic events (mostly window focus changes with ~60-character titles, ~1% risk matches) and
measures the time from writing a batch to its Ack — the collector acks only after a durable commit,
so that is the latency an agent sees.

`rate` is the total events/s across all agents (open loop: batches leave on a schedule whether or
not earlier ones were acked, up to `max_in_flight` per agent); 0 means as fast as the collector
acks (closed loop, `max_in_flight` batches outstanding per agent).

Events are encoded straight into protobuf wire bytes from pre-serialised templates: building
50,000 `pb.Event` objects a second would cost the generator a third of a core that the collector
needs on a shared machine. `tests/collector/test_loadgen.py` checks the bytes parse to the same
messages the protobuf library would build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from lantern.grpc_options import CLIENT_OPTIONS
from lantern.pki import COLLECTOR_TLS_NAME, fetch_pinned_ca, new_key_and_csr, split_token
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

CONNECT_METHOD = "/lantern.v1.Ingest/Connect"
AGENT_VERSION = "loadgen-1"
# A batch is sent when it is full or has waited this long (a real agent sends what it has at once).
MAX_LINGER_S = 1.0
RISK_SHARE = 0.01
STATE_SHARE = 0.001
# Each agent's working set of distinct window titles: the templates below with its own fill-ins
# (document names, counts, video titles), so a fleet shows many distinct titles, as a real one does,
# and a collector cannot serve every title scan from a small cache.
TITLES_PER_AGENT = 48

# ---------------------------------------------------------------- realistic content

# Window titles as a college laptop shows them, most 50-70 characters.
TITLES: tuple[tuple[str, str, str, str], ...] = (
    # (app, process, browser, title)
    (
        "Chromium",
        "chromium",
        "Chromium",
        "Photosynthesis: light-dependent reactions - BBC Bitesize - Chromium",
    ),
    (
        "Chromium",
        "chromium",
        "Chromium",
        "Unit 3 assignment brief - Business BTEC - Google Docs - Chromium",
    ),
    (
        "Chromium",
        "chromium",
        "Chromium",
        "Inbox (14) - s24ab0123@students.college.ac.uk - Outlook - Chromium",
    ),
    ("Chromium", "chromium", "Chromium", "YouTube - Crash Course World History #21 - Chromium"),
    (
        "Chromium",
        "chromium",
        "Chromium",
        "Quadratic equations: completing the square | Khan Academy - Chromium",
    ),
    (
        "Chromium",
        "chromium",
        "Chromium",
        "Moodle: A-level Psychology - Memory models (Year 12) - Chromium",
    ),
    ("Chromium", "chromium", "Chromium", "Student finance: how to apply - GOV.UK - Chromium"),
    ("Chromium", "chromium", "Chromium", "Spotify - Web Player: lofi beats to study to - Chromium"),
    ("Chromium", "chromium", "Chromium", "Macbeth Act 2 Scene 2 analysis - SparkNotes - Chromium"),
    ("Chromium", "chromium", "Chromium", "this homework is killing me - Google Search - Chromium"),
    (
        "Firefox",
        "firefox-esr",
        "Firefox",
        "Python for loops explained - W3Schools — Mozilla Firefox",
    ),
    ("Firefox", "firefox-esr", "Firefox", "UCAS Hub: personal statement draft 3 — Mozilla Firefox"),
    (
        "Firefox",
        "firefox-esr",
        "Firefox",
        "Premier League table 2026/27 - BBC Sport — Mozilla Firefox",
    ),
    (
        "Firefox",
        "firefox-esr",
        "Firefox",
        "Scunthorpe United fixtures and results — Mozilla Firefox",
    ),
    (
        "LibreOffice Writer",
        "soffice.bin",
        "",
        "History coursework - Causes of WW1 - final.odt - LibreOffice Writer",
    ),
    (
        "LibreOffice Calc",
        "soffice.bin",
        "",
        "Physics practical 4 - results and uncertainties.ods - LibreOffice Calc",
    ),
    ("Visual Studio Code", "code", "", "main.py - computing-nea-project - Visual Studio Code"),
    ("Microsoft Teams", "teams", "", "Chat | Year 12 Tutor Group 12B | Microsoft Teams"),
    ("Files", "nautilus", "", "Documents/College/Year 12/English Literature/Essays"),
    ("Terminal", "gnome-terminal-server", "", "s24ab0123@LAPTOP-0042: ~/college/computing/nea"),
)

# Typed-text matches as the agent ships them: category, severity, rule, matched, snippet.
RISKS: tuple[tuple[str, int, str, str, str], ...] = (
    (
        "self_harm",
        4,
        "self_harm.cutting",
        "cutting myself",
        "i keep cutting myself when it gets bad",
    ),
    ("suicide", 5, "suicide.want_to_die", "want to die", "honestly i just want to die right now"),
    (
        "bullying",
        3,
        "bullying.nobody_likes_you",
        "nobody likes you",
        "lol nobody likes you just leave",
    ),
    ("drugs", 2, "drugs.buy_weed", "buy weed", "where can i buy weed near college"),
    ("violence", 3, "violence.bring_a_knife", "bring a knife", "gonna bring a knife tomorrow"),
    ("offensive", 1, "offensive.general", "stupid", "this is so stupid"),
)

_WORDS = (
    "revision",
    "notes",
    "draft",
    "final",
    "week",
    "homework",
    "essay",
    "lab",
    "quiz",
    "plan",
    "chapter",
    "summary",
    "feedback",
    "group",
    "project",
    "slides",
    "mock",
    "exam",
    "practice",
)


def _vary(title: str, rng: random.Random) -> str:
    """A plausible variant: different numbers, one word swapped for another."""
    words = title.split(" ")
    i = rng.randrange(len(words))
    if words[i].isalpha() and len(words[i]) > 3:
        words[i] = rng.choice(_WORDS)
    out = " ".join(words)
    return "".join(str(rng.randrange(10)) if c.isdigit() else c for c in out)


# ---------------------------------------------------------------- wire encoding


def varint(value: int) -> bytes:
    """Protobuf base-128 varint."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_EVENT_ID_TAG = b"\x0a\x24"  # Event.event_id (field 1, length 36)
_SEQ_TAG = b"\x10"  # Event.seq (field 2, varint)
_EVENTS_TAG = b"\x12"  # EventBatch.events (field 2) and AgentMessage.batch (field 2)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class EventFactory:
    """Makes one simulated agent's events as AgentMessage wire bytes.

    Each event carries a fresh UUIDv7 and the next per-device seq; content comes from templates
    serialised once (os_user and the kind-specific part), so per event only the id, seq and
    timestamp are encoded.
    """

    def __init__(self, os_user: str, rng: random.Random) -> None:
        self.os_user = os_user
        self.rng = rng
        self.seq = 0
        self._counter = rng.randrange(0x800)
        self._focus = []
        for k in range(TITLES_PER_AGENT):
            app, process, browser, title = TITLES[k % len(TITLES)]
            if k >= len(TITLES):  # this agent's own variants of the common titles
                title = _vary(title, rng)
            self._focus.append(
                pb.Event(
                    os_user=os_user,
                    window_focus=pb.WindowFocus(
                        app=app,
                        process=process,
                        pid=rng.randrange(1000, 60000),
                        title=title,
                        browser=browser,
                        page_title=title.rsplit(" - ", 1)[0].rsplit(" — ", 1)[0] if browser else "",
                    ),
                ).SerializeToString()
            )
        self._risk = [
            pb.Event(
                os_user=os_user,
                risk_match=pb.RiskMatch(
                    category=category,
                    severity=severity,
                    rule=rule,
                    matched=matched,
                    snippet=snippet,
                    source=pb.SOURCE_TYPED,
                    app="Chromium",
                    process="chromium",
                    title="Instagram • Chats - Chromium",
                    lexicon_version="2026.11.1",
                ),
            ).SerializeToString()
            for category, severity, rule, matched, snippet in RISKS
        ]
        self._state = pb.Event(
            os_user=os_user,
            agent_state=pb.AgentState(
                capabilities=pb.Capabilities(windows="ok", keyboard="ok", browser="ok"),
                agent_version=AGENT_VERSION,
                lexicon_version="2026.11.1",
                rss_bytes=41_000_000,
                cpu_percent=0.4,
                platform="linux",
            ),
        ).SerializeToString()

    def kinds(self, n: int) -> list[bytes]:
        """Pick n event templates: ~1% risk matches, ~0.1% agent state, the rest window focus."""
        rnd = self.rng.random
        focus, risk = self._focus, self._risk
        out = []
        for _ in range(n):
            x = rnd()
            if x < RISK_SHARE:
                out.append(risk[int(x * 1e6) % len(risk)])
            elif x < RISK_SHARE + STATE_SHARE:
                out.append(self._state)
            else:
                out.append(focus[int(x * 1e6) % len(focus)])
        return out

    def batch(self, batch_id: int, n: int, now: float | None = None) -> bytes:
        """An AgentMessage{batch} with n new events, as wire bytes."""
        now = time.time() if now is None else now
        ms = int(now * 1000)
        t = f"{ms:012x}"
        head = f"{t[:8]}-{t[8:]}-7"
        stamp = pb.Event(
            observed_at={"seconds": int(now), "nanos": int((now % 1) * 1e9)}
        ).SerializeToString()
        rand = os.urandom(8 * n).hex()
        counter = self._counter
        seq = self.seq
        parts = []
        for i, template in enumerate(self.kinds(n)):
            r = rand[16 * i : 16 * i + 16]
            counter = (counter + 1) & 0xFFF
            seq += 1
            eid = f"{head}{counter:03x}-{_VARIANT[r[0]]}{r[1:4]}-{r[4:16]}".encode()
            body = _EVENT_ID_TAG + eid + _SEQ_TAG + varint(seq) + stamp + template
            parts.append(_EVENTS_TAG + varint(len(body)) + body)
        self._counter = counter
        self.seq = seq
        inner = b"\x08" + varint(batch_id) + b"".join(parts)
        return _EVENTS_TAG + varint(len(inner)) + inner


# ---------------------------------------------------------------- results


def _pct(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


@dataclass
class LoadReport:
    collector: str
    agents: int
    rate_target: float
    duration_s: float
    batch: int
    channels: int
    agents_enrolled: int = 0
    agents_connected: int = 0
    enrol_s: float = 0.0
    elapsed_s: float = 0.0
    events_sent: int = 0
    events_acked: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches_acked: int = 0
    retries: int = 0
    throttles: int = 0
    heartbeats: int = 0
    policy_updates: int = 0  # new policies pushed on open streams (after a policy edit)
    policy_update_span_s: float = 0.0  # from the first such push to the last
    reconnects: int = 0
    unacked_at_end: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    events_per_s: float = 0.0
    ack_ms: dict[str, float] = field(default_factory=dict)
    connect_ms: dict[str, float] = field(default_factory=dict)
    timeline: list[int] = field(default_factory=list)  # events acked in each second

    def to_json(self) -> str:
        return json.dumps({"loadgen": asdict(self)}, sort_keys=True)

    def summary(self) -> str:
        a, c = self.ack_ms, self.connect_ms
        lines = [
            f"collector {self.collector}: {self.agents_connected}/{self.agents} agents connected "
            f"on {self.channels} channels ({self.agents_enrolled} enrolled in {self.enrol_s:.1f}s)",
            f"target {'max' if not self.rate_target else f'{self.rate_target:,.0f}'} events/s "
            f"for {self.duration_s:.0f}s, batches of up to {self.batch}",
            f"events/s acked: {self.events_per_s:,.0f} "
            f"({self.events_acked:,} acked of {self.events_sent:,} sent in {self.elapsed_s:.1f}s)",
            f"ack latency ms: p50 {a.get('p50', 0):.1f}  p90 {a.get('p90', 0):.1f}  "
            f"p99 {a.get('p99', 0):.1f}  max {a.get('max', 0):.1f}",
            f"connect (hello -> policy) ms: p50 {c.get('p50', 0):.1f}  p99 {c.get('p99', 0):.1f}  "
            f"max {c.get('max', 0):.1f}",
            f"stored {self.stored:,}  duplicates {self.duplicates:,}  rejected {self.rejected:,}  "
            f"retries {self.retries}  throttles {self.throttles}  heartbeats {self.heartbeats:,}  "
            f"reconnects {self.reconnects}  unacked at end {self.unacked_at_end:,}",
            f"errors {self.errors}"
            + (
                ": " + ", ".join(f"{k} x{v}" for k, v in sorted(self.error_kinds.items()))
                if self.error_kinds
                else ""
            ),
        ]
        return "\n".join(lines)


class _Stats:
    def __init__(self) -> None:
        self.start = 0.0
        self.sent = 0
        self.acked = 0
        self.stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.batches = 0
        self.retries = 0
        self.throttles = 0
        self.heartbeats = 0
        self.reconnects = 0
        self.policy_updates: list[float] = []  # when a new policy was pushed mid-stream
        self.last_ack = 0.0
        self.ack_latency: list[float] = []
        self.connect_latency: list[float] = []
        self.errors: Counter[str] = Counter()
        self.timeline: Counter[int] = Counter()
        self.connected = 0

    def error(self, kind: str) -> None:
        self.errors[kind] += 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"rpc:{exc.code().name}"
    return type(exc).__name__


# ---------------------------------------------------------------- one simulated agent


@dataclass
class Identity:
    device_id: str
    device_secret: str
    # Mutual TLS (the collector's default): the device's own key and client certificate (PEM).
    key_pem: bytes = b""
    cert_pem: bytes = b""


@dataclass
class Tls:
    """The collector CA, pinned from the enrolment token's fingerprint; None in plain-text mode."""

    ca_pem: bytes

    def channel(self, address: str, identity: Identity | None = None) -> grpc.aio.Channel:
        creds = grpc.ssl_channel_credentials(
            self.ca_pem,
            identity.key_pem if identity else None,
            identity.cert_pem if identity else None,
        )
        options = [
            *CLIENT_OPTIONS,
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.ssl_target_name_override", COLLECTOR_TLS_NAME),
        ]
        return grpc.aio.secure_channel(address, creds, options=options)


class SimAgent:
    def __init__(
        self,
        index: int,
        identity: Identity,
        channel: grpc.aio.Channel | None,
        stats: _Stats,
        *,
        rate: float,
        batch: int,
        max_in_flight: int,
        heartbeat_s: float | None,
        rng: random.Random,
        tls: Tls | None = None,
        collector: str = "",
    ) -> None:
        self.index = index
        self.identity = identity
        # Plain text: a stream on a shared channel. TLS: the device's own connection with its own
        # client certificate, as a real agent has (the collector checks it names the device).
        self.channel = channel
        self.tls = tls
        self.collector = collector
        self.stats = stats
        self.factory = EventFactory(f"s{index:05d}", rng)
        self.rng = rng
        self.max_in_flight = max_in_flight
        self.heartbeat_s = heartbeat_s
        self.policy_heartbeat_s = 30.0
        if rate > 0:
            self.batch = max(1, min(batch, math.floor(rate * MAX_LINGER_S)))
            self.interval: float | None = self.batch / rate
        else:
            self.batch, self.interval = batch, None
        self.next_batch_id = 1
        # batch_id -> (wire bytes, events, sent at); kept until acked, re-sent after a reconnect.
        self.outstanding: dict[int, tuple[bytes, int, float]] = {}
        self.resend: list[int] = []
        self.slot = asyncio.Event()
        self.paused_until = 0.0
        self.refused = False
        self.connected_once = False

    async def run(self, start_at: float, end_at: float, drain_s: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        own = self.channel is None
        if own:
            assert self.tls is not None
            self.channel = self.tls.channel(self.collector, self.identity)
        try:
            await self._run(end_at, drain_s)
        finally:
            if own and self.channel is not None:
                await self.channel.close()

    async def _run(self, end_at: float, drain_s: float) -> None:
        attempt = 0
        while not self.refused:
            try:
                await self._session(end_at, drain_s)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.error(_describe(exc))
                if time.monotonic() >= end_at + drain_s:
                    return
                attempt += 1
                self.resend = sorted(self.outstanding)
                await asyncio.sleep(random.uniform(0, min(5.0, 0.25 * 2**attempt)))
                self.stats.reconnects += 1

    async def _session(self, end_at: float, drain_s: float) -> None:
        assert self.channel is not None
        call = self.channel.stream_stream(
            CONNECT_METHOD,
            request_serializer=None,  # we write wire bytes
            response_deserializer=pb.CollectorMessage.FromString,
        )()
        try:
            t0 = time.monotonic()
            hello = pb.Hello(
                device_id=self.identity.device_id,
                device_secret=self.identity.device_secret,
                agent_version=AGENT_VERSION,
            )
            await call.write(pb.AgentMessage(hello=hello).SerializeToString())
            first = await call.read()
            if first is grpc.aio.EOF:
                raise ConnectionError("stream closed after hello")
            if first.WhichOneof("body") == "refusal":
                self.refused = True
                self.stats.error(f"refused:{first.refusal.code}")
                return
            self._handle(first, at_connect=True)
            self.stats.connect_latency.append(time.monotonic() - t0)
            if not self.connected_once:
                self.connected_once = True
                self.stats.connected += 1
            reader = asyncio.ensure_future(self._read(call))
            try:
                await self._write(call, end_at, drain_s, reader)
            finally:
                if not reader.done():
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
            if reader.done() and not reader.cancelled() and (exc := reader.exception()):
                raise exc
        finally:
            call.cancel()

    async def _read(self, call: Any) -> None:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return
            self._handle(message)

    def _handle(self, message: pb.CollectorMessage, at_connect: bool = False) -> None:
        body = message.WhichOneof("body")
        stats = self.stats
        if body == "ack":
            ack = message.ack
            sent = self.outstanding.pop(ack.batch_id, None)
            self.slot.set()
            if sent is None:
                stats.error("ack_for_unknown_batch")
                return
            now = time.monotonic()
            if ack.retry:
                stats.retries += 1
                if now >= self.paused_until:  # after a Throttle a retry is the rate limit working
                    stats.error("retry")
                if ack.max_batch_events:
                    self.batch = max(1, min(self.batch, ack.max_batch_events))
                return
            stats.ack_latency.append(now - sent[2])
            stats.acked += sent[1]
            stats.stored += ack.stored
            stats.duplicates += ack.duplicates
            stats.rejected += ack.rejected
            stats.batches += 1
            stats.last_ack = now
            stats.timeline[int(now - stats.start)] += sent[1]
        elif body == "policy":
            if not at_connect:  # the first policy answers the hello; later ones are pushes
                stats.policy_updates.append(time.monotonic())
            if message.policy.heartbeat_seconds:
                self.policy_heartbeat_s = float(message.policy.heartbeat_seconds)
        elif body == "throttle":
            stats.throttles += 1
            self.paused_until = time.monotonic() + message.throttle.retry_after_ms / 1000
        elif body == "refusal":
            self.refused = True
            stats.error(f"refused:{message.refusal.code}")

    async def _write(
        self, call: Any, end_at: float, drain_s: float, reader: asyncio.Future[None]
    ) -> None:
        stats = self.stats
        heartbeat_s = self.heartbeat_s or self.policy_heartbeat_s
        now = time.monotonic()
        next_hb = now  # a real agent sends a heartbeat as soon as it is connected
        interval = self.interval
        next_batch = now + (self.rng.uniform(0, interval) if interval else 0.0)
        while not reader.done():
            now = time.monotonic()
            if now >= next_hb:
                hb = pb.Heartbeat(
                    spool_depth=len(self.outstanding),
                    capabilities=pb.Capabilities(windows="ok", keyboard="ok", browser="ok"),
                )
                hb.sent_at.GetCurrentTime()
                await call.write(pb.AgentMessage(heartbeat=hb).SerializeToString())
                stats.heartbeats += 1
                next_hb = now + heartbeat_s
            if self.resend:  # after a reconnect, what was never acked goes first
                batch_id = self.resend.pop(0)
                if batch_id in self.outstanding:
                    data, n, _ = self.outstanding[batch_id]
                    self.outstanding[batch_id] = (data, n, time.monotonic())
                    await call.write(data)
                continue
            if now >= end_at:
                break
            wait = min(next_hb, end_at) - now
            if len(self.outstanding) >= self.max_in_flight:
                self.slot.clear()
                await _wait(self.slot, wait)
                continue
            if self.paused_until > now:
                await asyncio.sleep(min(wait, self.paused_until - now))
                continue
            if interval is not None and now < next_batch:
                await asyncio.sleep(min(wait, next_batch - now))
                continue
            batch_id = self.next_batch_id
            self.next_batch_id += 1
            data = self.factory.batch(batch_id, self.batch)
            self.outstanding[batch_id] = (data, self.batch, time.monotonic())
            stats.sent += self.batch
            await call.write(data)
            if interval is not None:
                next_batch += interval
        # Drain: wait for outstanding acks, then close our side and let the collector finish.
        deadline = end_at + drain_s
        while self.outstanding and not reader.done() and time.monotonic() < deadline:
            self.slot.clear()
            await _wait(self.slot, deadline - time.monotonic())
        if not reader.done():
            await call.done_writing()
            try:
                await asyncio.wait_for(
                    asyncio.shield(reader), max(0.1, deadline - time.monotonic())
                )
            except TimeoutError:
                pass


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    except TimeoutError:
        pass


# ---------------------------------------------------------------- enrolment and the run


def default_channels(agents: int) -> int:
    """A few HTTP/2 connections: ~250 streams each, at least 4 (when there are 4 agents), at most 64."""
    return max(1, min(64, max(min(agents, 4), math.ceil(agents / 250))))


def _next_port(address: str) -> str:
    """The collector's default enrolment endpoint: the same host, the next port."""
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + 1}"


def _channel(collector: str) -> grpc.aio.Channel:
    # A local subchannel pool: each channel gets its own TCP connection instead of sharing one.
    options = [*CLIENT_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    return grpc.aio.insecure_channel(collector, options=options)


async def enrol_agents(
    channels: Sequence[grpc.aio.Channel],
    token: str,
    count: int,
    *,
    concurrency: int = 16,
    run_id: str | None = None,
    tls: bool = False,
) -> list[Identity]:
    """Enrol `count` simulated devices with one multi-use enrolment token (with `tls`, each gets
    its own key and a client certificate the collector signs, as `lantern-agent enrol` does)."""
    run_id = run_id or uuid.uuid4().hex[:8]
    identities: list[Identity | None] = [None] * count
    queue = iter(range(count))

    async def worker(w: int) -> None:
        stub = pb_grpc.IngestStub(channels[w % len(channels)])
        for i in queue:
            instance_id = f"loadgen-{run_id}-{i:05d}"
            key_pem, csr_pem = new_key_and_csr(instance_id) if tls else (b"", b"")
            response = await stub.Enrol(
                pb.EnrolRequest(
                    token=token,
                    instance_id=instance_id,
                    hostname=f"LG-{run_id}-{i:05d}",
                    hardware_serial=f"LG{i:08d}",
                    os="linux",
                    os_version="Debian 12",
                    agent_version=AGENT_VERSION,
                    csr_pem=csr_pem,
                ),
                timeout=60,
            )
            identities[i] = Identity(
                response.device_id, response.device_secret, key_pem, response.client_cert_pem
            )

    await asyncio.gather(*(worker(w) for w in range(min(concurrency, count))))
    return [i for i in identities if i is not None]


def _load_identities(path: Path, collector: str) -> tuple[list[Identity], Tls | None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return [], None
    if data.get("collector") != collector:
        return [], None
    tls = Tls(data["ca_pem"].encode()) if data.get("ca_pem") else None
    devices = [Identity(d[0], d[1], *(x.encode() for x in d[2:4])) for d in data.get("devices", [])]
    return devices, tls


def _save_identities(
    path: Path, collector: str, identities: Sequence[Identity], tls: Tls | None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "collector": collector,
                "ca_pem": tls.ca_pem.decode() if tls else "",
                "devices": [
                    [i.device_id, i.device_secret, i.key_pem.decode(), i.cert_pem.decode()]
                    for i in identities
                ],
            }
        )
    )
    os.chmod(tmp, 0o600)
    tmp.replace(path)


async def run_loadgen_async(
    collector: str,
    agents: int,
    rate: float,
    duration: float,
    batch: int = 100,
    token: str | None = None,
    *,
    channels: int | None = None,
    max_in_flight: int = 4,
    heartbeat_s: float | None = None,
    ramp_s: float = 0.0,
    drain_s: float = 15.0,
    identities_path: Path | None = None,
    enrol_concurrency: int = 16,
    seed: int | None = None,
    progress: bool = False,
    enrol_address: str | None = None,
    plaintext: bool | None = None,
) -> LoadReport:
    """See `run_loadgen`. TLS or plain text follows the token: a token that carries the CA's
    fingerprint (the collector's default) means mutual TLS, one connection per agent."""
    if agents < 1 or duration <= 0 or batch < 1 or rate < 0:
        raise ValueError("agents and batch must be >= 1, duration > 0 and rate >= 0")
    identities: list[Identity] = []
    tls: Tls | None = None
    if identities_path:
        identities, tls = _load_identities(identities_path, collector)
    pinned = split_token(token)[1] if token else None
    if plaintext is None:
        plaintext = tls is None and pinned is None
    if len(identities) < agents and not plaintext and tls is None:
        if pinned is None:
            raise ValueError("TLS needs a token that carries the CA fingerprint (or --plaintext)")
        enrol_at = enrol_address or _next_port(collector)
        tls = Tls(await asyncio.to_thread(fetch_pinned_ca, enrol_at, pinned))
    n_channels = agents if tls else channels or default_channels(agents)
    report = LoadReport(
        collector=collector,
        agents=agents,
        rate_target=rate,
        duration_s=duration,
        batch=batch,
        channels=n_channels,
    )
    stats = _Stats()
    # Plain text: streams share a few channels. TLS: each agent opens its own (see SimAgent).
    chans = [] if tls else [_channel(collector) for _ in range(n_channels)]
    try:
        t0 = time.monotonic()
        if len(identities) < agents:
            if not token:
                raise ValueError(
                    f"{agents - len(identities)} agents need enrolling: give an enrolment token"
                )
            enrol_chans = (
                [tls.channel(enrol_address or _next_port(collector)) for _ in range(4)]
                if tls
                else chans
            )
            try:
                identities += await enrol_agents(
                    enrol_chans,
                    token,
                    agents - len(identities),
                    concurrency=enrol_concurrency,
                    tls=tls is not None,
                )
            except grpc.aio.AioRpcError as exc:
                report.errors = 1
                report.error_kinds = {f"enrol:{exc.code().name}": 1}
                log.error("enrolment failed: %s %s", exc.code().name, exc.details())
                return report
            finally:
                if tls:
                    await asyncio.gather(*(c.close() for c in enrol_chans))
            if identities_path:
                _save_identities(identities_path, collector, identities, tls)
        identities = identities[:agents]
        report.agents_enrolled = len(identities)
        report.enrol_s = time.monotonic() - t0

        master = random.Random(seed)
        sims = [
            SimAgent(
                i,
                ident,
                None if tls else chans[i % n_channels],
                stats,
                rate=rate / agents,
                batch=batch,
                max_in_flight=max_in_flight,
                heartbeat_s=heartbeat_s,
                rng=random.Random(master.random()),
                tls=tls,
                collector=collector,
            )
            for i, ident in enumerate(identities)
        ]
        start = time.monotonic()
        stats.start = start
        end = start + ramp_s + duration
        tasks = [
            asyncio.ensure_future(sim.run(start + ramp_s * i / max(1, agents), end, drain_s))
            for i, sim in enumerate(sims)
        ]
        reporter = asyncio.ensure_future(_progress(stats, start, end)) if progress else None
        await asyncio.gather(*tasks, return_exceptions=True)
        if reporter is not None:
            reporter.cancel()
        finished = time.monotonic()

        acks = sorted(stats.ack_latency)
        conns = sorted(stats.connect_latency)
        report.elapsed_s = round(finished - start, 3)
        report.agents_connected = stats.connected
        report.events_sent = stats.sent
        report.events_acked = stats.acked
        report.stored = stats.stored
        report.duplicates = stats.duplicates
        report.rejected = stats.rejected
        report.batches_acked = stats.batches
        report.retries = stats.retries
        report.throttles = stats.throttles
        report.heartbeats = stats.heartbeats
        report.reconnects = stats.reconnects
        pushed = stats.policy_updates
        report.policy_updates = len(pushed)
        report.policy_update_span_s = round(max(pushed) - min(pushed), 1) if pushed else 0.0
        report.unacked_at_end = sum(n for s in sims for _, n, _ in s.outstanding.values())
        report.errors = sum(stats.errors.values())
        report.error_kinds = dict(stats.errors)
        # Throughput over the sending window (after the ramp), counting acks until the last one.
        window = max(1e-9, (stats.last_ack or finished) - start - ramp_s * 0.5)
        report.events_per_s = round(stats.acked / window, 1)
        report.ack_ms = {k: round(_pct(acks, q) * 1000, 2) for k, q in _QUANTILES}
        report.ack_ms["max"] = round(acks[-1] * 1000, 2) if acks else 0.0
        report.ack_ms["samples"] = len(acks)
        report.connect_ms = {k: round(_pct(conns, q) * 1000, 2) for k, q in _QUANTILES}
        report.connect_ms["max"] = round(conns[-1] * 1000, 2) if conns else 0.0
        last = max(stats.timeline) if stats.timeline else -1
        report.timeline = [stats.timeline.get(s, 0) for s in range(last + 1)]
        return report
    finally:
        await asyncio.gather(*(c.close() for c in chans), return_exceptions=True)


_QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


async def _progress(stats: _Stats, start: float, end: float) -> None:
    last_acked, last_t = 0, start
    while True:
        await asyncio.sleep(5)
        now = time.monotonic()
        rate = (stats.acked - last_acked) / (now - last_t)
        last_acked, last_t = stats.acked, now
        print(
            f"[{now - start:5.0f}s] connected {stats.connected}  acked {stats.acked:,} "
            f"({rate:,.0f}/s)  errors {sum(stats.errors.values())}",
            file=sys.stderr,
            flush=True,
        )


def run_loadgen(
    collector: str,
    agents: int,
    rate: float,
    duration: float,
    batch: int = 100,
    token: str | None = None,
    enrol_token: str | None = None,
    **options: Any,
) -> LoadReport:
    """Run the simulated fleet against `collector` (HOST:PORT) and return what it measured.

    `token` and `enrol_token` both name the multi-use enrolment token (give either). Options:
    channels, max_in_flight, heartbeat_s, ramp_s, drain_s, identities_path, enrol_concurrency,
    seed, progress (see `add_arguments`).
    """
    if token and enrol_token and token != enrol_token:
        raise ValueError("token and enrol_token name the same thing: give one")
    return asyncio.run(
        run_loadgen_async(collector, agents, rate, duration, batch, token or enrol_token, **options)
    )


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collector", required=True, help="the collector's gRPC HOST:PORT")
    parser.add_argument("--agents", type=int, required=True, help="simulated agents (streams)")
    parser.add_argument(
        "--rate", type=float, required=True, help="total events/s across agents (0 = max)"
    )
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--batch", type=int, default=100, help="events per batch (default 100)")
    parser.add_argument("--token", help="a multi-use enrolment token (`tokens create --uses N`)")
    parser.add_argument(
        "--channels", type=int, help="HTTP/2 connections to spread streams over (default: ~N/250)"
    )
    parser.add_argument(
        "--in-flight", dest="max_in_flight", type=int, default=4, help="unacked batches per agent"
    )
    parser.add_argument(
        "--heartbeat",
        dest="heartbeat_s",
        type=float,
        help="seconds between heartbeats (default: the policy's)",
    )
    parser.add_argument(
        "--ramp", dest="ramp_s", type=float, default=0.0, help="spread connects over S seconds"
    )
    parser.add_argument(
        "--drain", dest="drain_s", type=float, default=15.0, help="seconds to wait for last acks"
    )
    parser.add_argument(
        "--identities",
        dest="identities_path",
        type=Path,
        help="JSON file of enrolled identities: reused if it holds enough, written after enrolling",
    )
    parser.add_argument(
        "--enrol", dest="enrol_address", help="enrolment HOST:PORT (default: the gRPC port + 1)"
    )
    parser.add_argument("--seed", type=int, help="random seed for event content")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def main_from_args(args: argparse.Namespace) -> int:
    try:
        report = run_loadgen(
            args.collector,
            args.agents,
            args.rate,
            args.duration,
            args.batch,
            args.token,
            channels=args.channels,
            max_in_flight=args.max_in_flight,
            heartbeat_s=args.heartbeat_s,
            ramp_s=args.ramp_s,
            drain_s=args.drain_s,
            identities_path=args.identities_path,
            seed=args.seed,
            progress=not args.quiet,
            enrol_address=args.enrol_address,
            # `lantern-collector --plaintext loadgen ...` (the collector CLI's global flag).
            plaintext=True if getattr(args, "plaintext", None) else None,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(report.to_json(), flush=True)
    return 0 if report.events_acked > 0 and report.agents_connected == report.agents else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lantern-collector loadgen", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    parser.add_argument("--plaintext", action="store_true", default=None, help="gRPC without TLS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    return main_from_args(args)


if __name__ == "__main__":
    raise SystemExit(main())
