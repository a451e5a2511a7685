"""Hostile input over real gRPC: random bytes and adversarial events never crash the collector,
and a well-behaved agent streaming alongside loses nothing. Runs on SQLite and PostgreSQL."""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest.service import IngestService
from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash
from collector.settings import Settings
from collector.store import Store, open_store
from collector.triggers.engine import TriggerEngine
from lantern.detection import Engine
from lantern.grpc_options import SERVER_OPTIONS
from lantern.ids import uuid7_str
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture

CASES = 150
CONNECT = "/lantern.v1.Ingest/Connect"


class Server:
    """A grpc.aio collector on its own event loop thread, so sync clients can hammer it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)
        self.cases = 0

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = grpc.aio.server(options=SERVER_OPTIONS)
            triggers = TriggerEngine(Engine.load())
            self.service = IngestService(self.store, triggers, Settings(max_batch_events=100))
            pb_grpc.add_IngestServicer_to_server(self.service, self.server)
            self.port = self.server.add_insecure_port("127.0.0.1:0")
            await self.server.start()
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self.service.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server"))
    store = open_store(url)
    s = Server(store)
    yield s
    s.stop()
    print(f"fuzz: {s.cases} hostile streams tried on {request.param}")
    store.close()


def enrol(server: Server) -> pb.EnrolResponse:
    token = new_token(ENROLMENT_PREFIX)
    server.store.add_enrolment_token(token_hash(token), None, None, None)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        response: pb.EnrolResponse = pb_grpc.IngestStub(ch).Enrol(
            pb.EnrolRequest(token=token, instance_id=uuid7_str(), hostname="h")
        )
    return response


def raw_stream(port: int, messages: list[bytes]) -> list[bytes]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.stream_stream(CONNECT, request_serializer=None, response_deserializer=None)
        try:
            return list(call(iter(messages), timeout=5))
        except grpc.RpcError:
            return []  # a refused or reset stream is a fine answer to garbage


texts = st.text(max_size=300) | st.sampled_from(["", "\x00", "é" * 2000, "\u202e", "a\x00b"])
timestamps = st.builds(
    lambda s, n: {"seconds": s, "nanos": n},
    st.integers(-(2**40), 2**40) | st.sampled_from([0, 253402300799, -62135596800]),
    st.integers(0, 999_999_999),
)


@st.composite
def hostile_events(draw: st.DrawFn) -> pb.Event:
    event = pb.Event(
        event_id=draw(st.sampled_from([uuid7_str(), "", "x" * 100]) | texts),
        seq=draw(st.integers(0, 2**64 - 1)),
        os_user=draw(texts),
    )
    if draw(st.booleans()):
        event.observed_at.FromSeconds(0)
        ts = draw(timestamps)
        event.observed_at.seconds, event.observed_at.nanos = ts["seconds"], ts["nanos"]
    kind = draw(st.sampled_from(["focus", "match", "state", "gap", "limit", "none"]))
    if kind == "focus":
        event.window_focus.CopyFrom(
            pb.WindowFocus(
                title=draw(texts),
                app=draw(texts),
                page_title=draw(texts),
                pid=draw(st.integers(0, 2**32 - 1)),
            )
        )
    elif kind == "match":
        event.risk_match.CopyFrom(
            pb.RiskMatch(
                category=draw(texts),
                severity=draw(st.integers(0, 2**32 - 1)),
                rule=draw(texts),
                snippet=draw(texts),
                source=draw(st.integers(0, 5)),
            )
        )  # type: ignore[arg-type]
    elif kind == "state":
        event.agent_state.CopyFrom(
            pb.AgentState(
                cpu_percent=draw(st.floats(allow_nan=True, width=32)),
                rss_bytes=draw(st.integers(0, 2**64 - 1)),
            )
        )
    elif kind == "gap":
        event.gap.CopyFrom(pb.Gap(reason=draw(texts), dropped=draw(st.integers(0, 2**64 - 1))))
        ts = draw(timestamps)
        event.gap.first_dropped_at.seconds = ts["seconds"]
    elif kind == "limit":
        event.limit_tripped.CopyFrom(
            pb.LimitTripped(value=draw(st.floats(width=32)), resource=draw(texts))
        )
    return event


@st.composite
def hostile_streams(draw: st.DrawFn, hello: pb.AgentMessage) -> list[bytes]:
    messages: list[bytes] = []
    if draw(st.booleans()):
        messages.append(hello.SerializeToString())
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["bytes", "batch", "heartbeat", "hello"]))
        if choice == "bytes":
            messages.append(draw(st.binary(max_size=512)))
        elif choice == "batch":
            events = draw(st.lists(hostile_events(), max_size=8))
            batch = pb.EventBatch(batch_id=draw(st.integers(0, 2**64 - 1)), events=events)
            messages.append(pb.AgentMessage(batch=batch).SerializeToString())
        elif choice == "heartbeat":
            hb = pb.Heartbeat(spool_depth=draw(st.integers(0, 2**32 - 1)))
            hb.capabilities.keyboard = draw(texts)
            messages.append(pb.AgentMessage(heartbeat=hb).SerializeToString())
        else:
            messages.append(hello.SerializeToString())
    return messages


def good_batch(seq0: int, n: int) -> pb.AgentMessage:
    events = []
    for i in range(n):
        e = pb.Event(event_id=uuid7_str(), seq=seq0 + i, os_user="s1")
        e.observed_at.GetCurrentTime()
        e.window_focus.title = f"Essay {seq0 + i}"
        events.append(e)
    return pb.AgentMessage(batch=pb.EventBatch(batch_id=seq0, events=events))


def test_hostile_streams_crash_nothing_and_lose_no_good_events(server: Server) -> None:
    attacker = enrol(server)
    victim = enrol(server)
    attacker_hello = pb.AgentMessage(
        hello=pb.Hello(device_id=attacker.device_id, device_secret=attacker.device_secret)
    )
    victim_hello = pb.AgentMessage(
        hello=pb.Hello(device_id=victim.device_id, device_secret=victim.device_secret)
    )
    sent = 0

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(hostile_streams(attacker_hello))
    def attack(messages: list[bytes]) -> None:
        nonlocal sent
        server.cases += 1
        raw_stream(server.port, messages)
        # The victim streams alongside every hostile stream and must always be acked.
        replies = raw_stream(
            server.port,
            [victim_hello.SerializeToString(), good_batch(sent + 1, 3).SerializeToString()],
        )
        acks = [m.ack for m in map(pb.CollectorMessage.FromString, replies) if m.HasField("ack")]
        assert acks and acks[0].stored == 3, "a good agent's batch was not stored"
        sent += 3

    attack()
    assert server.store.count_events(victim.device_id) == sent
