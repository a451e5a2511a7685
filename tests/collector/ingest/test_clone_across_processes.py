"""A cloned identity is noticed even when its two agents stream to different ingest processes
(two IngestServices, each with its own store connection, on one database); an agent that simply
restarts is not a clone."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from collector.ingest.service import IngestService
from collector.settings import Settings
from collector.store import open_store
from lantern.grpc_options import SERVER_OPTIONS
from lantern.v1 import lantern_pb2_grpc as pb_grpc
from tests.collector.ingest.test_service import (
    Harness,
    _open_stream,
    enrolment_token,
    no_triggers,
)


@pytest.fixture
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    harnesses, servers, services, stores = [], [], [], []
    for _ in range(2):
        store = open_store(url)
        server = grpc.aio.server(options=SERVER_OPTIONS)
        service = IngestService(store, no_triggers, Settings(policy_cache_seconds=0))
        pb_grpc.add_IngestServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        harnesses.append(Harness(store, port))
        servers.append(server)
        services.append(service)
        stores.append(store)
    yield harnesses[0], harnesses[1]
    for server in servers:
        await server.stop(None)
    for service in services:
        await service.close()
    for store in stores:
        store.close()


async def test_two_copies_on_two_processes_are_flagged_and_a_restart_is_not(
    two_processes: tuple[Harness, Harness],
) -> None:
    first, second = two_processes
    resp = await first.enrol(enrolment_token(first.store))

    # The agent restarts (a new process, a new session id) after its stream ended: not a clone.
    ch, _ = await _open_stream(first, resp, "session-a")
    await ch.close()
    await asyncio.sleep(1.0)  # the collector notices the stream end
    ch, _ = await _open_stream(second, resp, "session-b")
    (device,) = second.store.list_devices()
    assert device.clone_suspected_at is None

    # A second live copy of the identity on the other process: flagged.
    other, _ = await _open_stream(first, resp, "session-c")
    (device,) = first.store.list_devices()
    assert device.clone_suspected_at is not None
    await ch.close()
    await other.close()
