"""The memory floor of any agent built on the mandated stack (Python 3.11 + grpcio + protobuf).

Starts a real collector, enrols a device, then runs a client that does only what every agent
must: load its identity, open the mutual-TLS gRPC stream, say hello and send a heartbeat every
15 s, reading the collector's acks. No spool, no X, no detection engine, no psutil. Its RSS is
the least a grpcio agent can take; the agent's own RSS (``bench.agent.footprint``) is this plus
everything that makes it an agent.

    .venv/bin/python -m bench.agent.floor [--seconds 60] [--sync] [--python PATH]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.conftest import collector_in
from tests.e2e.agent import Agent

CLIENT = r"""
import asyncio, sys
from pathlib import Path
from agent.identity import Identity, TlsFiles
from agent.transport import GrpcTransport
from lantern.v1 import lantern_pb2 as pb

state = Path(sys.argv[1])
identity = Identity.load(state)
tls = TlsFiles.load(state)
transport = GrpcTransport(identity.collector, ca_pem=tls.ca, client_key=tls.key,
                          client_cert=tls.cert)

async def main():
    stream = await transport.connect()
    async with stream:
        await stream.write(pb.AgentMessage(hello=pb.Hello(
            device_id=identity.device_id, device_secret=identity.device_secret,
            agent_version="floor", session_id="floor")))
        first = await stream.read()
        assert first is not None, "collector closed the stream after hello"
        print("connected", flush=True)
        while True:
            await stream.write(pb.AgentMessage(heartbeat=pb.Heartbeat(spool_depth=0)))
            await stream.read()
            await asyncio.sleep(15)

asyncio.run(main())
"""

# the same without asyncio: grpc's blocking API, a request iterator fed from a queue
SYNC_CLIENT = r"""
import queue, sys, time
import grpc
from pathlib import Path
from agent.identity import Identity, TlsFiles
from lantern.grpc_options import CLIENT_OPTIONS
from lantern.pki import COLLECTOR_TLS_NAME
from lantern.v1 import lantern_pb2 as pb, lantern_pb2_grpc as pb_grpc
state = Path(sys.argv[1]); identity = Identity.load(state); tls = TlsFiles.load(state)
creds = grpc.ssl_channel_credentials(tls.ca, tls.key, tls.cert)
ch = grpc.secure_channel(identity.collector, creds, options=[*CLIENT_OPTIONS, ("grpc.ssl_target_name_override", COLLECTOR_TLS_NAME)])
q = queue.Queue()
q.put(pb.AgentMessage(hello=pb.Hello(device_id=identity.device_id, device_secret=identity.device_secret, agent_version="floor", session_id="floor")))
def gen():
    while True:
        yield q.get()
responses = pb_grpc.IngestStub(ch).Connect(gen())
next(responses); print("connected", flush=True)
while True:
    q.put(pb.AgentMessage(heartbeat=pb.Heartbeat(spool_depth=0))); next(responses); time.sleep(15)
"""


def rss_mib(pid: int) -> tuple[float, float, float]:
    """(RSS, anonymous, file-backed) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sync", action="store_true", help="grpc's blocking API, no asyncio")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the client, e.g. a clean venv with the agent installed from its wheel",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lantern-floor-"))
    collector = collector_in(tmp)
    collector.start()
    try:
        agent = Agent(tmp / "agent", tmp / "agent.log", {"XDG_DATA_HOME": str(tmp)})
        agent.enrol(collector)
        bare = subprocess.run(
            [args.python, "-c", "print(open('/proc/self/status').read())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        bare_rss = int(bare.split("VmRSS:")[1].split()[0]) / 1024
        client = subprocess.Popen(
            [args.python, "-c", SYNC_CLIENT if args.sync else CLIENT, str(tmp / "agent")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert client.stdout is not None
            assert client.stdout.readline().strip() == "connected"
            samples = []
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                samples.append(rss_mib(client.pid))
                time.sleep(1)
            rss, anon, file = max(samples)
            threads = psutil.Process(client.pid).num_threads()
            print(f"python itself                 {bare_rss:6.1f} MiB RSS")
            print(
                f"grpcio {'blocking' if args.sync else 'grpc.aio'} stream client, {args.seconds:.0f} s "
                f"{rss:6.1f} MiB RSS max "
                f"({anon:.1f} anonymous, {file:.1f} file-backed), {threads} threads"
            )
        finally:
            client.terminate()
            client.wait(timeout=10)
    finally:
        collector.stop()


if __name__ == "__main__":
    main()
