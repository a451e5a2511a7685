"""Reconnect backoff after a session that worked: a laptop that sleeps, changes Wi-Fi or sees a
collector restart many times a day must come back quickly every time, not after a backoff that
has grown with every drop since the agent started."""

import asyncio
from pathlib import Path

import pytest

import agent.sender
from agent.sender import Sender, SenderConfig
from agent.spool import Spool
from agent.transport import Stream, Transport, TransportError
from lantern.v1 import lantern_pb2 as pb


class DroppingStream(Stream):
    """Answers the hello with a policy, then the connection drops a moment later."""

    def __init__(self) -> None:
        self.sent_policy = False

    async def write(self, message: pb.AgentMessage) -> None:
        return None

    async def read(self) -> pb.CollectorMessage | None:
        if not self.sent_policy:
            self.sent_policy = True
            return pb.CollectorMessage(policy=pb.Policy(version=1, heartbeat_seconds=30))
        await asyncio.sleep(0.02)
        raise TransportError("UNAVAILABLE: connection reset")

    async def close(self) -> None:
        return None


class DroppingCollector(Transport):
    def __init__(self) -> None:
        self.connects = 0

    async def enrol(self, request: pb.EnrolRequest) -> pb.EnrolResponse:
        raise NotImplementedError

    async def connect(self) -> Stream:
        self.connects += 1
        return DroppingStream()


async def test_backoff_restarts_from_the_base_after_a_session_that_connected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds: list[float] = []

    def uniform(low: float, high: float) -> float:
        bounds.append(high)
        return 0.0  # no real waiting in the test

    monkeypatch.setattr(agent.sender.random, "uniform", uniform)
    spool = Spool(tmp_path / "agent", "student")
    transport = DroppingCollector()
    sender = Sender(
        spool, transport, SenderConfig(device_id="d", device_secret="s", agent_version="t")
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    while transport.connects < 8:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 10)
    spool.close()

    assert sender.state.reconnects >= 7  # every session got as far as the policy
    # Each drop came after a working session: the backoff starts again from the base each time.
    assert bounds[:7] == [agent.sender.BACKOFF_BASE_S * 2] * 7, bounds
