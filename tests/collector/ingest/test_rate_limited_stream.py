"""A device over its event rate is throttled over real gRPC, and loses nothing by it."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from collector import metrics
from collector.ingest.service import IngestService
from collector.settings import Settings
from collector.store import open_store
from lantern.grpc_options import SERVER_OPTIONS
from lantern.v1 import lantern_pb2_grpc as pb_grpc
from tests.collector.ingest.test_service import (
    Harness,
    batch,
    enrolment_token,
    focus_event,
    hello,
    no_triggers,
)


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Harness]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings(
        max_batch_events=50,
        device_events_per_second=20,
        device_event_burst=50,
        policy_cache_seconds=0,
    )
    server = grpc.aio.server(options=SERVER_OPTIONS)
    service = IngestService(store, no_triggers, settings)
    pb_grpc.add_IngestServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield Harness(store, port)
    await server.stop(None)
    await service.close()  # its background writers, before the event loop closes
    store.close()


async def test_a_batch_over_the_device_rate_is_throttled_then_stored_when_sent_again(
    limited: Harness,
) -> None:
    def counted(name: str, result: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"result": result}) or 0.0

    before = {
        k: counted(*k)
        for k in (
            ("lantern_ingest_batches_total", "throttled"),
            ("lantern_ingest_batches_total", "stored"),
            ("lantern_ingest_events_total", "stored"),
        )
    }
    token = enrolment_token(limited.store)
    flooder = await limited.enrol(token, "flooder")
    first = [focus_event(i) for i in range(1, 51)]
    second = [focus_event(i) for i in range(51, 61)]
    replies = await limited.exchange([hello(flooder), batch(1, first), batch(2, second)], 4)
    bodies = [r.WhichOneof("body") for r in replies]
    assert bodies == ["policy", "ack", "throttle", "ack"]
    assert replies[1].ack.stored == 50
    throttle, refused = replies[2].throttle, replies[3].ack
    assert throttle.max_events_per_second == 20
    assert 0 < throttle.retry_after_ms <= 600  # 10 events at 20/s: half a second
    assert refused.batch_id == 2 and refused.retry and refused.stored == 0
    assert "rate limited (device)" in refused.reason
    assert limited.store.count_events(flooder.device_id) == 50

    # Another device is not held back by the flooder.
    other = await limited.enrol(token, "other")
    replies = await limited.exchange([hello(other), batch(1, [focus_event(1)])], 2)
    assert replies[1].ack.stored == 1

    # After the pause it asked for, the same batch goes in whole.
    await asyncio.sleep(throttle.retry_after_ms / 1000)
    replies = await limited.exchange([hello(flooder), batch(2, second)], 2)
    assert replies[1].ack.stored == 10 and not replies[1].ack.retry
    assert limited.store.count_events(flooder.device_id) == 60
    # What Prometheus would see from this process: 1 throttled batch, 3 stored with 61 events.
    after = {k: counted(*k) - v for k, v in before.items()}
    assert list(after.values()) == [1, 3, 61]
