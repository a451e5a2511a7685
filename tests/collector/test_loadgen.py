"""The load generator against a real gRPC Ingest service on loopback (SQLite store, no triggers)."""

import asyncio
import json
import random
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from collector.ingest.service import IngestService
from collector.ingest.wire import convert_batch
from collector.loadgen import EventFactory, default_channels, run_loadgen_async, varint
from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash
from collector.settings import Settings
from collector.store import Store, open_store
from collector.store.interface import AlertCandidate, EventRow
from lantern.grpc_options import SERVER_OPTIONS
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc


def no_triggers(rows: Sequence[EventRow]) -> list[AlertCandidate]:
    return []


class Server:
    def __init__(self, store: Store, address: str, token: str) -> None:
        self.store = store
        self.address = address
        self.token = token


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    token = new_token(ENROLMENT_PREFIX)
    store.add_enrolment_token(token_hash(token), None, None, None)
    grpc_server = grpc.aio.server(options=SERVER_OPTIONS)
    service = IngestService(store, no_triggers, Settings(heartbeat_seconds=1))
    pb_grpc.add_IngestServicer_to_server(service, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    yield Server(store, f"127.0.0.1:{port}", token)
    await grpc_server.stop(None)
    await service.close()
    store.close()


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 16_383, 16_384, 2**32, 2**63):
        assert pb.EventBatch.FromString(b"\x08" + varint(value)).batch_id == value


def test_generated_batches_are_valid_realistic_events() -> None:
    factory = EventFactory("s00042", random.Random(1))
    events: list[pb.Event] = []
    for batch_id in (1, 2, 300):  # 300: a two-byte batch id
        message = pb.AgentMessage.FromString(factory.batch(batch_id, 4000))
        assert message.WhichOneof("body") == "batch"
        assert message.batch.batch_id == batch_id
        assert len(message.batch.events) == 4000
        converted = convert_batch(message.batch, "device-1", datetime.now(UTC))
        assert converted.rejected == []  # the collector accepts every generated event
        events.extend(message.batch.events)
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in ids)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.os_user for e in events} == {"s00042"}
    kinds = Counter(e.WhichOneof("kind") for e in events)
    assert 0.005 < kinds["risk_match"] / len(events) < 0.02  # ~1%
    assert kinds["window_focus"] / len(events) > 0.97
    titles = [e.window_focus.title for e in events if e.HasField("window_focus")]
    assert 50 <= sum(map(len, titles)) / len(titles) <= 70  # ~60-character titles
    risks = [e.risk_match for e in events if e.HasField("risk_match")]
    assert all(1 <= r.severity <= 5 and r.category and r.rule and r.snippet for r in risks)
    # The hand-made bytes equal what the protobuf library makes from the parsed message.
    again = pb.AgentMessage(batch=pb.EventBatch(batch_id=1, events=events[:10]))
    assert pb.AgentMessage.FromString(again.SerializeToString()) == again


def test_default_channels_are_a_few_connections() -> None:
    assert default_channels(1) == 1
    assert default_channels(100) == 4
    assert default_channels(10_000) == 40
    assert default_channels(100_000) == 64


async def test_a_fleet_is_enrolled_streams_and_every_acked_event_is_stored(server: Server) -> None:
    report = await run_loadgen_async(
        server.address,
        agents=6,
        rate=1500,
        duration=2,
        batch=50,
        token=server.token,
        heartbeat_s=0.5,
        seed=7,
    )
    assert report.agents_enrolled == report.agents_connected == 6
    assert report.errors == 0, report.error_kinds
    assert report.unacked_at_end == 0
    assert report.events_acked == report.events_sent == report.stored
    assert report.duplicates == 0
    # Open loop at 1,500 events/s for 2 s (batches leave on a schedule): about 3,000 events.
    assert 2400 <= report.events_sent <= 3300
    assert server.store.count_events() == report.stored
    devices = server.store.list_devices()
    assert len(devices) == 6
    assert all(d.last_seq > 0 and d.last_seen_at is not None for d in devices)
    assert report.heartbeats >= 6 * 3  # one at connect, then every 0.5 s
    assert report.ack_ms["samples"] == report.batches_acked > 0
    assert 0 < report.ack_ms["p50"] <= report.ack_ms["p99"] <= report.ack_ms["max"]
    assert report.connect_ms["p50"] > 0
    assert sum(report.timeline) == report.events_acked


async def test_rate_zero_runs_closed_loop_as_fast_as_acks_come(server: Server) -> None:
    report = await run_loadgen_async(
        server.address,
        agents=2,
        rate=0,
        duration=1.5,
        batch=100,
        token=server.token,
        max_in_flight=2,
    )
    assert report.errors == 0, report.error_kinds
    assert report.events_acked == report.stored == server.store.count_events()
    assert report.events_acked >= 1000  # far above any sensible per-agent schedule
    assert report.events_per_s > 0


async def test_identities_are_saved_and_reused(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    first = await run_loadgen_async(
        server.address, 3, 300, 1, token=server.token, identities_path=path
    )
    assert first.agents_connected == 3
    assert len(json.loads(path.read_text())["devices"]) == 3
    # No token needed the second time: the saved identities are used.
    second = await run_loadgen_async(server.address, 3, 300, 1, identities_path=path)
    assert second.agents_connected == 3 and second.errors == 0
    assert len(server.store.list_devices()) == 3


async def test_a_refused_device_is_reported_as_an_error(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"collector": server.address, "devices": [["nope", "bad"]]}))
    report = await run_loadgen_async(server.address, 1, 100, 1, identities_path=path)
    assert report.agents_connected == 0
    assert report.error_kinds == {"refused:unknown_device": 1}


async def test_a_bad_enrolment_token_fails_cleanly(server: Server) -> None:
    report = await run_loadgen_async(server.address, 2, 100, 1, token="lte_wrong")
    assert report.agents_enrolled == 0
    assert report.error_kinds == {"enrol:PERMISSION_DENIED": 1}


async def test_the_command_line_runs_as_its_own_process_and_ends_with_json(server: Server) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "collector.loadgen",
        "--collector",
        server.address,
        "--agents",
        "4",
        "--rate",
        "800",
        "--duration",
        "1.5",
        "--batch",
        "20",
        "--token",
        server.token,
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    assert any(line.startswith("events/s acked:") for line in lines)
    assert any(line.startswith("ack latency ms: p50") for line in lines)
    result = json.loads(lines[-1])["loadgen"]
    assert result["agents_connected"] == 4 and result["errors"] == 0
    assert result["events_acked"] == server.store.count_events() > 0
