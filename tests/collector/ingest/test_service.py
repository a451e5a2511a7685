"""The Ingest service over real gRPC on loopback: enrolment, acks after commit, dedup, bad input."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest

from collector.ingest.service import IngestService
from collector.settings import Settings
from collector.store import Store, open_store
from collector.store.interface import AlertCandidate, EventRow
from lantern.grpc_options import CLIENT_OPTIONS, SERVER_OPTIONS
from lantern.ids import uuid7_str
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc


def no_triggers(rows: Sequence[EventRow]) -> list[AlertCandidate]:
    return []


class Harness:
    def __init__(self, store: Store, port: int) -> None:
        self.store = store
        self.address = f"127.0.0.1:{port}"

    async def enrol(self, token: str, instance: str = "i1") -> pb.EnrolResponse:
        async with grpc.aio.insecure_channel(self.address, options=CLIENT_OPTIONS) as ch:
            return await pb_grpc.IngestStub(ch).Enrol(
                pb.EnrolRequest(token=token, instance_id=instance, hostname="LAPTOP-1")
            )

    async def exchange(
        self, messages: list[pb.AgentMessage], replies: int
    ) -> list[pb.CollectorMessage]:
        """Send messages on one Connect stream and collect the first `replies` answers."""
        async with grpc.aio.insecure_channel(self.address, options=CLIENT_OPTIONS) as ch:
            call = pb_grpc.IngestStub(ch).Connect()
            for m in messages:
                await call.write(m)
            out = []
            for _ in range(replies):
                msg = await asyncio.wait_for(call.read(), 10)
                if msg is grpc.aio.EOF:
                    break
                out.append(msg)
            await call.done_writing()
            return out


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.add_enrolment_token("t-hash-placeholder", None, None, None)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    service = IngestService(
        store,
        no_triggers,
        Settings(max_batch_events=50, policy_cache_seconds=0, enrolments_per_minute=8),
    )
    pb_grpc.add_IngestServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield Harness(store, port)
    await server.stop(None)
    await service.close()  # its background writers, before the event loop closes
    store.close()


def enrolment_token(store: Store) -> str:
    from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash

    token = new_token(ENROLMENT_PREFIX)
    store.add_enrolment_token(token_hash(token), "Year 12", 3, None)
    return token


def focus_event(seq: int, event_id: str | None = None) -> pb.Event:
    event = pb.Event(event_id=event_id or uuid7_str(), seq=seq, os_user="s1")
    event.observed_at.GetCurrentTime()
    event.window_focus.CopyFrom(pb.WindowFocus(app="xterm", title=f"window {seq}"))
    return event


def hello(resp: pb.EnrolResponse) -> pb.AgentMessage:
    return pb.AgentMessage(
        hello=pb.Hello(device_id=resp.device_id, device_secret=resp.device_secret)
    )


def batch(batch_id: int, events: list[pb.Event]) -> pb.AgentMessage:
    return pb.AgentMessage(batch=pb.EventBatch(batch_id=batch_id, events=events))


async def test_enrol_then_stream_stores_events_and_acks(harness: Harness) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    assert resp.device_id and resp.device_secret.startswith("ltd_")
    events = [focus_event(i) for i in range(1, 11)]
    replies = await harness.exchange([hello(resp), batch(1, events)], 2)
    assert replies[0].WhichOneof("body") == "policy"
    ack = replies[1].ack
    assert (ack.batch_id, ack.stored, ack.duplicates, ack.rejected) == (1, 10, 0, 0)
    assert harness.store.count_events(resp.device_id) == 10  # committed before the ack


async def test_a_re_sent_batch_is_acked_but_stored_once(harness: Harness) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    events = [focus_event(i) for i in range(1, 6)]
    await harness.exchange([hello(resp), batch(1, events)], 2)
    replies = await harness.exchange([hello(resp), batch(1, events)], 2)
    assert replies[1].ack.duplicates == 5 and replies[1].ack.stored == 0
    assert harness.store.count_events(resp.device_id) == 5


async def test_malformed_events_are_rejected_with_a_reason_and_the_rest_kept(
    harness: Harness,
) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    bad_id = focus_event(1, event_id="not-a-uuid")
    no_kind = pb.Event(event_id=uuid7_str(), seq=2)
    no_kind.observed_at.GetCurrentTime()
    bad_match = pb.Event(event_id=uuid7_str(), seq=3)
    bad_match.observed_at.GetCurrentTime()
    bad_match.risk_match.CopyFrom(pb.RiskMatch(category="suicide", severity=9, rule="x"))
    replies = await harness.exchange(
        [hello(resp), batch(1, [bad_id, no_kind, bad_match, focus_event(4)])], 2
    )
    ack = replies[1].ack
    assert (ack.stored, ack.rejected) == (1, 3)
    assert "event_id is not a UUID" in ack.reason and "severity" in ack.reason


async def test_an_oversized_batch_is_refused_whole_and_asked_again_smaller(
    harness: Harness,
) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    replies = await harness.exchange(
        [hello(resp), batch(1, [focus_event(i) for i in range(1, 61)])], 2
    )
    ack = replies[1].ack
    assert ack.retry and ack.max_batch_events == 50 and ack.stored == 0
    assert harness.store.count_events(resp.device_id) == 0


@pytest.mark.parametrize("secret", ["wrong", ""])
async def test_unknown_devices_are_refused(harness: Harness, secret: str) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    forged = pb.EnrolResponse(device_id=resp.device_id, device_secret=secret)
    replies = await harness.exchange([hello(forged), batch(1, [focus_event(1)])], 2)
    assert replies[0].refusal.code == "unknown_device"
    assert len(replies) == 1
    assert harness.store.count_events() == 0


async def test_a_stream_that_does_not_start_with_hello_is_refused(harness: Harness) -> None:
    replies = await harness.exchange([batch(1, [focus_event(1)])], 2)
    assert replies[0].refusal.code == "bad_hello"


async def test_bad_enrolment_tokens_get_a_clear_error(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.enrol("lte_nonsense")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "unknown enrolment token" in (err.value.details() or "")


async def _open_stream(harness: Harness, resp: pb.EnrolResponse, session: str) -> tuple:
    ch = grpc.aio.insecure_channel(harness.address, options=CLIENT_OPTIONS)
    call = pb_grpc.IngestStub(ch).Connect()
    await call.write(
        pb.AgentMessage(
            hello=pb.Hello(
                device_id=resp.device_id, device_secret=resp.device_secret, session_id=session
            )
        )
    )
    first = await asyncio.wait_for(call.read(), 10)
    assert first.WhichOneof("body") == "policy"
    return ch, call


async def test_two_live_agents_with_one_identity_are_flagged_as_a_clone(harness: Harness) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    ch1, _ = await _open_stream(harness, resp, "session-a")
    ch2, _ = await _open_stream(harness, resp, "session-a")  # a reconnect of the same process
    (device,) = harness.store.list_devices()
    assert device.clone_suspected_at is None
    ch3, _ = await _open_stream(harness, resp, "session-b")  # a second machine
    (device,) = harness.store.list_devices()
    assert device.clone_suspected_at is not None
    for ch in (ch1, ch2, ch3):
        await ch.close()


async def test_revoking_a_device_closes_its_open_stream(harness: Harness) -> None:
    resp = await harness.enrol(enrolment_token(harness.store))
    ch, call = await _open_stream(harness, resp, "s1")
    await call.write(batch(1, [focus_event(1)]))
    assert (await asyncio.wait_for(call.read(), 10)).ack.stored == 1
    harness.store.revoke_device(resp.device_id)
    await asyncio.sleep(2.5)  # the shared revoked set is refreshed every 2 s
    await call.write(batch(2, [focus_event(2)]))
    reply = await asyncio.wait_for(call.read(), 10)
    assert reply.refusal.code == "revoked"
    assert harness.store.count_events(resp.device_id) == 1
    await ch.close()


async def test_heartbeats_reach_the_device_record_in_bulk(harness: Harness) -> None:
    from collector.ingest import presence

    resp = await harness.enrol(enrolment_token(harness.store))
    ch, call = await _open_stream(harness, resp, "s1")
    hb = pb.Heartbeat(spool_depth=7, capabilities=pb.Capabilities(keyboard="ok", windows="ok"))
    await call.write(pb.AgentMessage(heartbeat=hb))
    await asyncio.sleep(presence.FLUSH_S + presence.REVOKED_REFRESH_S + 0.5)
    (device,) = harness.store.list_devices()
    assert device.spool_depth == 7 and device.capabilities["keyboard"] == "ok"
    assert device.last_seen_at is not None
    await ch.close()


async def test_a_group_policy_reaches_a_connected_agent_without_restart(harness: Harness) -> None:
    from collector.directory.policies import PolicySpec
    from collector.directory.store import DirectoryStore
    from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash

    token = new_token(ENROLMENT_PREFIX)
    harness.store.add_enrolment_token(token_hash(token), "Adult learners", 1, None)
    resp = await harness.enrol(token)
    ch, call = await _open_stream(harness, resp, "s1")
    notice = "Adult learners: this device is monitored; see the college's policy."
    DirectoryStore.for_store(harness.store).put_policy(
        "Adult learners", PolicySpec(notice_text=notice, capture_typed=False), actor="it@college"
    )
    await call.write(pb.AgentMessage(heartbeat=pb.Heartbeat()))
    reply = await asyncio.wait_for(call.read(), 10)
    assert reply.WhichOneof("body") == "policy"
    assert reply.policy.notice_text == notice and not reply.policy.capture_typed
    await ch.close()


async def test_the_colleges_keywords_reach_agents_in_their_policy(harness: Harness) -> None:
    from collector.web.policy import add_keyword

    resp = await harness.enrol(enrolment_token(harness.store))
    ch, call = await _open_stream(harness, resp, "s1")
    add_keyword(
        harness.store,
        "dsl@college",
        "add",
        "vape shop near college",
        "drugs",
        3,
        "county-lines recruiting reported near the north site",
    )
    await call.write(pb.AgentMessage(heartbeat=pb.Heartbeat()))
    reply = await asyncio.wait_for(call.read(), 10)
    assert reply.WhichOneof("body") == "policy"
    (keyword,) = reply.policy.keywords
    assert (keyword.action, keyword.phrase, keyword.category) == (
        "add",
        "vape shop near college",
        "drugs",
    )
    await ch.close()


def test_enrolment_is_rate_limited_per_address() -> None:
    from collector.ingest.service import EnrolmentLimit, _peer_host

    limit = EnrolmentLimit(per_minute=3)
    assert [limit.allow("10.0.0.5", t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert limit.allow("10.0.0.6", 3.0)  # another address is not held back
    assert limit.allow("10.0.0.5", 61.5)  # the window slides
    assert _peer_host("ipv4:10.0.0.5:51234") == "10.0.0.5"
    assert _peer_host("ipv6:[::1]:5123") == "[::1]"


async def test_too_many_enrolments_from_one_address_are_refused(harness: Harness) -> None:
    from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash

    token = new_token(ENROLMENT_PREFIX)
    harness.store.add_enrolment_token(token_hash(token), None, None, None)  # unlimited uses
    for i in range(8):
        await harness.enrol(token, instance=f"i{i}")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.enrol(token, instance="one-too-many")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
