"""Policy edits reach connected agents at their next heartbeat without waiting for the policy cache
to expire (policy_cache_seconds is an hour here): every edit moves the policy generation, and each
ingest process — several may share one database — reads it every 2 s and marks its cached
policies stale (`collector.ingest.policies`). Without an edit, heartbeats are answered from the
cache."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from collector.directory.importers import import_people
from collector.directory.policies import PolicySpec
from collector.directory.store import DirectoryStore
from collector.ingest import policies as ingest_policies
from collector.ingest.service import IngestService
from collector.settings import Settings
from collector.store import SqlStore, open_store, policy_generation
from collector.web import policy as editor
from lantern.grpc_options import CLIENT_OPTIONS, SERVER_OPTIONS
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc
from tests.collector.directory.conftest import EXAMPLES
from tests.collector.ingest.test_service import (
    Harness,
    batch,
    enrolment_token,
    focus_event,
    no_triggers,
)

REASON = "agreed at the safeguarding meeting"
# The generation is read every 2 s; a change is in the next heartbeat's answer after that.
SEEN_WITHIN_S = ingest_policies.POLICY_GENERATION_CHECK_S + 0.3


@dataclass
class Process:
    """One ingest process: its own store (engine, connections) and IngestService."""

    harness: Harness
    service: IngestService
    policy_calls: list[str]

    @property
    def store(self) -> SqlStore:
        return self.harness.store  # type: ignore[return-value]


def count_policy_calls(service: IngestService) -> list[str]:
    """The device ids `service.policies.resolve` (resolving a policy from the database) is
    called for."""
    calls: list[str] = []
    compute = service.policies.resolve

    def counted(device_id: str) -> tuple[pb.Policy, str]:
        calls.append(device_id)
        return compute(device_id)

    service.policies.resolve = counted  # type: ignore[method-assign]
    return calls


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[list[Process]]:
    """Two ingest processes on one SQLite file, caching policies for an hour."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    out, servers = [], []
    for _ in range(2):
        store = open_store(url)
        service = IngestService(store, no_triggers, Settings(policy_cache_seconds=3600))
        calls = count_policy_calls(service)
        server = grpc.aio.server(options=SERVER_OPTIONS)
        pb_grpc.add_IngestServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        out.append(Process(Harness(store, port), service, calls))
        servers.append(server)
    yield out
    for server, p in zip(servers, out, strict=True):
        await server.stop(None)
        await p.service.close()
        p.store.close()


@pytest.fixture
def one(processes: list[Process]) -> Process:
    return processes[0]


class Agent:
    """One connected agent: a Connect stream that has had its first policy."""

    def __init__(self, channel: grpc.aio.Channel, call: Any, policy: pb.Policy) -> None:
        self.channel, self.call, self.policy = channel, call, policy
        self.os_user = ""  # who is logged in: the OS user of the events it sends
        self._batches = 0

    @classmethod
    async def connect(cls, harness: Harness, resp: pb.EnrolResponse) -> "Agent":
        channel = grpc.aio.insecure_channel(harness.address, options=CLIENT_OPTIONS)
        call = pb_grpc.IngestStub(channel).Connect()
        hello = pb.Hello(device_id=resp.device_id, device_secret=resp.device_secret, session_id="s")
        await call.write(pb.AgentMessage(hello=hello))
        first = await asyncio.wait_for(call.read(), 10)
        assert first.WhichOneof("body") == "policy"
        return cls(channel, call, first.policy)

    def _batch(self) -> pb.AgentMessage:
        self._batches += 1
        event = focus_event(self._batches)
        event.os_user = self.os_user
        return batch(self._batches, [event])

    async def log_in(self, os_user: str) -> None:
        """Another user logs in: the agent's next events are theirs."""
        self.os_user = os_user
        await self.call.write(self._batch())
        reply = await asyncio.wait_for(self.call.read(), 10)
        assert reply.WhichOneof("body") == "ack", reply

    async def heartbeat(self) -> pb.Policy | None:
        """The new policy the heartbeat was answered with, or None (unchanged). A batch follows
        the heartbeat so that "no answer" is seen as its ack coming first, not as a hang."""
        await self.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat()))
        await self.call.write(self._batch())
        reply = await asyncio.wait_for(self.call.read(), 10)
        if reply.WhichOneof("body") == "ack":
            return None
        assert reply.WhichOneof("body") == "policy", reply
        assert (await asyncio.wait_for(self.call.read(), 10)).WhichOneof("body") == "ack"
        self.policy = reply.policy
        return reply.policy

    async def heartbeat_until_changed(self, within_s: float = SEEN_WITHIN_S) -> pb.Policy:
        """Heartbeat every 0.25 s until a new policy comes; fail after `within_s`."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if (policy := await self.heartbeat()) is not None:
                return policy
            await asyncio.sleep(0.25)
        raise AssertionError(f"no new policy within {within_s} s")

    async def close(self) -> None:
        await self.channel.close()


async def connected(p: Process, token: str | None = None, instance: str = "i1") -> Agent:
    resp = await p.harness.enrol(token or enrolment_token(p.store), instance)
    agent = await Agent.connect(p.harness, resp)
    # Past the first generation read (made at Connect): what follows is the steady state.
    await asyncio.sleep(0.1)
    return agent


async def test_without_changes_heartbeats_do_not_recompute_the_policy(one: Process) -> None:
    agent = await connected(one)
    calls_at_connect = len(one.policy_calls)
    for _ in range(6):  # 3 s: more than one generation read
        assert await agent.heartbeat() is None
        await asyncio.sleep(0.5)
    assert len(one.policy_calls) == calls_at_connect
    await agent.close()


async def test_a_console_policy_edit_reaches_the_next_heartbeat(one: Process) -> None:
    agent = await connected(one)
    assert await agent.heartbeat() is None
    notice = "Northgate College monitors this laptop for safeguarding; ask the DSL."
    editor.set_notice_text(one.store, "it@college", notice, REASON)
    editor.change_excluded_app(one.store, "it@college", "dashlane", True, REASON)
    policy = await agent.heartbeat_until_changed()
    assert policy.notice_text == notice and "dashlane" in policy.excluded_apps
    await agent.close()


async def test_a_local_keyword_reaches_the_next_heartbeat(one: Process) -> None:
    agent = await connected(one)
    editor.add_keyword(one.store, "dsl", "add", "vape shop near college", "drugs", 3, REASON)
    policy = await agent.heartbeat_until_changed()
    assert [k.phrase for k in policy.keywords] == ["vape shop near college"]
    (keyword,) = editor.keywords(one.store)
    editor.withdraw_keyword(one.store, "dsl", keyword.id, REASON)
    assert list((await agent.heartbeat_until_changed()).keywords) == []
    await agent.close()


async def test_a_directory_group_policy_reaches_the_next_heartbeat(one: Process) -> None:
    from collector.security.credentials import ENROLMENT_PREFIX, new_token, token_hash

    token = new_token(ENROLMENT_PREFIX)
    one.store.add_enrolment_token(token_hash(token), "Adult learners", 1, None)
    agent = await connected(one, token)
    assert agent.policy.capture_typed
    directory = DirectoryStore.for_store(one.store)
    directory.put_policy("Adult learners", PolicySpec(capture_typed=False), actor="it@college")
    assert not (await agent.heartbeat_until_changed()).capture_typed
    directory.delete_policy("Adult learners", actor="it@college")
    assert (await agent.heartbeat_until_changed()).capture_typed
    await agent.close()


async def test_group_membership_and_the_logged_in_user_reach_the_next_heartbeat(
    one: Process,
) -> None:
    directory = DirectoryStore.for_store(one.store)
    import_people(
        directory, (EXAMPLES / "mis.csv").read_bytes(), "mis", EXAMPLES / "mapping-mis.yaml"
    )
    directory.put_policy("art_club", PolicySpec(capture_titles=False), actor="it@college")
    agent = await connected(one)
    # Tomasz logs in: his groups' policies apply from the heartbeat after his first events.
    await agent.log_in("s204818")
    assert await agent.heartbeat() is None  # he is in no group with a policy
    directory.add_to_group(
        directory.person_by_external_id("S204818").id, "art_club", actor="it@college"
    )
    assert not (await agent.heartbeat_until_changed()).capture_titles
    # Millie logs in on the same laptop: not in art_club. No edit, so no generation move: the
    # device's cached policy is dropped because its events show another user.
    generation = policy_generation.current(one.store.engine)
    await agent.log_in("s204817")
    assert (await agent.heartbeat()) is not None and agent.policy.capture_titles
    assert policy_generation.current(one.store.engine) == generation
    await agent.close()


async def test_an_edit_through_one_process_reaches_agents_on_the_other(
    processes: list[Process],
) -> None:
    first, second = processes
    on_first = await connected(first, instance="laptop-1")
    on_second = await connected(second, instance="laptop-2")
    # The edit is written through the first process's own engine and connections.
    editor.add_keyword(first.store, "dsl", "add", "meet me after college", "cse", 4, REASON)
    DirectoryStore.for_store(first.store).put_policy(
        "Year 12", PolicySpec(heartbeat_seconds=45), actor="it@college"
    )
    for agent in (on_second, on_first):
        policy = await agent.heartbeat_until_changed()
        assert [k.phrase for k in policy.keywords] == ["meet me after college"]
        assert policy.heartbeat_seconds == 45
    # One recompute per device after the edit, then the cache again.
    calls = len(second.policy_calls)
    assert await on_second.heartbeat() is None
    assert len(second.policy_calls) == calls
    await on_first.close()
    await on_second.close()


async def test_the_generation_is_read_once_per_interval_for_all_streams(
    one: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = [await connected(one, instance=f"laptop-{i}") for i in range(3)]
    reads: list[float] = []
    current = policy_generation.current

    def counted(engine: Any) -> int:
        reads.append(time.monotonic())
        return current(engine)

    monkeypatch.setattr(policy_generation, "current", counted)
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        for agent in agents:
            assert await agent.heartbeat() is None
    # About 30 heartbeats in 2.5 s, but at most two reads (one per 2 s).
    assert 1 <= len(reads) <= 2
    for agent in agents:
        await agent.close()


async def test_a_policy_resolved_across_an_edit_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A heartbeat resolving a policy from data read before an edit, while another stream sees
    the generation move, answers with what it read but does not cache it."""
    from datetime import UTC, datetime

    from collector.store.interface import DeviceRegistration

    monkeypatch.setattr(ingest_policies, "POLICY_GENERATION_CHECK_S", 0.0)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    service = IngestService(store, no_triggers, Settings(policy_cache_seconds=3600))
    store.add_enrolment_token("tok", None, None, None)
    reg = DeviceRegistration("i1", "LAPTOP-1", "SN1", "linux", "12", "0.1.0")
    device = store.enrol_device("tok", reg, "secret", datetime.now(UTC)).id
    read, release = threading.Event(), threading.Event()
    policies = service.policies
    resolve = policies.resolve

    def slow(device_id: str) -> tuple[pb.Policy, str]:
        out = resolve(device_id)
        read.set()
        release.wait(10)
        return out

    policies.resolve = slow  # type: ignore[method-assign]
    resolving = asyncio.create_task(policies.current(device))
    assert await asyncio.to_thread(read.wait, 10)
    notice = "Northgate College monitors this laptop for safeguarding; ask the DSL."
    editor.set_notice_text(store, "it@college", notice, REASON)
    await policies.check_generation()  # another stream's heartbeat
    release.set()
    assert (await resolving).notice_text != notice  # read before the edit
    policies.resolve = resolve  # type: ignore[method-assign]
    assert (await policies.current(device)).notice_text == notice
    await service.close()
    store.close()


async def test_without_group_policies_a_new_user_does_not_recompute_the_policy(
    one: Process,
) -> None:
    """With no group policy anywhere every user of a device gets the same policy: a login (events
    from another OS user) keeps the cached one (10,000 agents starting up would otherwise each
    have theirs worked out twice)."""
    agent = await connected(one)
    calls_at_connect = len(one.policy_calls)
    await agent.log_in("s1234")
    await agent.log_in("t5678")
    assert await agent.heartbeat() is None
    assert len(one.policy_calls) == calls_at_connect
    await agent.close()


async def test_after_an_edit_stale_policies_are_refreshed_within_the_budget(
    one: Process,
) -> None:
    """After an edit every cached policy is stale; they are worked out again at no more than
    policy_refreshes_per_second (here 2), the rest served stale until their turn, and every
    agent has the change within a few heartbeats."""
    from collector.ingest.ratelimit import TokenBucket

    agents = [await connected(one, instance=f"i{i}") for i in range(6)]
    one.service.policies.refreshes = TokenBucket(2.0, 2.0, updated=time.monotonic())
    notice = "Northgate College monitors this laptop for safeguarding; ask the DSL."
    editor.set_notice_text(one.store, "it@college", notice, REASON)
    await asyncio.sleep(SEEN_WITHIN_S)  # every process has read the new generation
    calls = len(one.policy_calls)
    first = [await a.heartbeat() for a in agents]
    assert 1 <= sum(p is not None for p in first) <= 3  # the burst (2), and one token's refill
    assert len(one.policy_calls) - calls <= 3
    for a, p in zip(agents, first, strict=True):
        if p is None:
            assert (await a.heartbeat_until_changed(within_s=5.0)).notice_text == notice
    assert len(one.policy_calls) - calls == 6  # each device's policy worked out once
    for a in agents:
        await a.close()
