"""`lantern-agent run`: observe → spool → send, until told to stop."""

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from agent.identity import Identity, TlsFiles, os_user
from agent.limits import SelfWatchdog
from agent.notice import show_notice
from agent.observe.observer import ObservePolicy, Observer
from agent.observe.processes import CircumventionScanner
from agent.observe.tamper import TamperWatch
from agent.renewal import renew_if_due
from agent.sender import Sender, SenderConfig
from agent.spool import Spool
from agent.status import write_status
from agent.transport import GrpcTransport
from lantern import __version__
from lantern.detection import Engine
from lantern.detection.lexicon import LocalKeyword
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

POLICY_FILE = "policy.bin"
STATUS_INTERVAL_S = 5.0
RENEW_CHECK_S = 24 * 3600


class SpoolSink:
    """The observer's EventSink: everything it sees goes to the spool first."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def emit(self, event: pb.Event) -> None:
        self.spool.append(event)


def local_keywords(policy: pb.Policy) -> list[LocalKeyword]:
    return [
        LocalKeyword(
            id=k.id, action=k.action, phrase=k.phrase, category=k.category, severity=k.severity
        )
        for k in policy.keywords
    ]


def load_policy(state_dir: Path) -> pb.Policy | None:
    path = state_dir / POLICY_FILE
    return pb.Policy.FromString(path.read_bytes()) if path.exists() else None


def observe_policy(policy: pb.Policy | None) -> ObservePolicy:
    if policy is None:
        return ObservePolicy()
    return ObservePolicy(
        capture_typed=policy.capture_typed,
        capture_titles=policy.capture_titles,
        excluded_apps=frozenset(a.lower() for a in policy.excluded_apps),
    )


def tamper_paths(state_dir: Path) -> list[Path]:
    """What a student might edit to blind the agent: its code, its config, its identity."""
    import agent
    import lantern

    return [
        Path(agent.__file__).parent,
        Path(lantern.__file__).parent,
        Path("/etc/lantern"),
        state_dir,
    ]


def transport_for(state_dir: Path, identity: Identity) -> GrpcTransport:
    if not identity.tls:
        log.warning("talking to the collector in PLAIN TEXT (enrolled with --plaintext)")
        return GrpcTransport(identity.collector)
    tls = TlsFiles.load(state_dir)
    return GrpcTransport(
        identity.collector, ca_pem=tls.ca, client_key=tls.key, client_cert=tls.cert
    )


class AgentRunner:
    def __init__(self, state_dir: Path, identity: Identity) -> None:
        self.state_dir = state_dir
        self.identity = identity
        self.policy = load_policy(state_dir)
        self.engine = Engine.load()
        self._packaged_version = self.engine.version
        if self.policy is not None and self.policy.keywords:
            # Offline start: the cached policy's keywords apply before the collector is reached.
            self.engine = Engine.load(local=local_keywords(self.policy))
        self.spool = Spool(state_dir, os_user())
        self.observer = Observer(self.engine, SpoolSink(self.spool), observe_policy(self.policy))
        self.sender = Sender(
            self.spool,
            transport_for(state_dir, identity),
            SenderConfig(
                device_id=identity.device_id,
                device_secret=identity.device_secret,
                agent_version=__version__,
                capabilities=self.observer.capabilities,
            ),
            on_policy=self._policy_received,
        )
        self.spool.on_append = self.sender.wake
        self._process = psutil.Process()
        sink = SpoolSink(self.spool)
        self.watchdog = SelfWatchdog(sink.emit, self._restart_observer)
        self.circumvention = CircumventionScanner(sink.emit, own_pid=os.getpid())
        self.tamper = TamperWatch(sink.emit, tamper_paths(state_dir))

    def _restart_observer(self) -> None:
        """Called by the self-watchdog from its thread: a fresh observer, same engine and policy."""
        self.observer.stop()
        self.observer = Observer(self.engine, SpoolSink(self.spool), observe_policy(self.policy))
        self.observer.start()

    def _load_engine(self, keywords: list[LocalKeyword]) -> None:
        engine = Engine.load(local=keywords)
        self.engine = engine
        self.observer.set_engine(engine)
        log.info("lexicon %s applied (%d local keyword changes)", engine.version, len(keywords))

    def _policy_received(self, policy: pb.Policy) -> None:
        if self.policy is not None and policy.version == self.policy.version:
            return
        keywords_changed = self.policy is None or list(self.policy.keywords) != list(
            policy.keywords
        )
        self.policy = policy
        (self.state_dir / POLICY_FILE).write_bytes(policy.SerializeToString())
        self.observer.set_policy(observe_policy(policy))
        if keywords_changed and (policy.keywords or self.engine.version != self._packaged_version):
            # Compiling takes about a second: off the event loop, then swapped in live.
            threading.Thread(
                target=self._load_engine, args=(local_keywords(policy),), daemon=True
            ).start()
        log.info("policy version %d applied", policy.version)

    def _agent_state(self) -> pb.Event:
        event = pb.Event()
        event.agent_state.CopyFrom(
            pb.AgentState(
                capabilities=self.observer.capabilities(),
                agent_version=__version__,
                lexicon_version=self.engine.version,
                rss_bytes=self._process.memory_info().rss,
                cpu_percent=self._process.cpu_percent(),
                platform=sys.platform,
            )
        )
        return event

    def _write_status(self) -> None:
        stats = self.spool.stats()
        caps = self.observer.capabilities()
        s = self.sender.state
        write_status(
            self.state_dir,
            {
                "pid": os.getpid(),
                "written_at": time.time(),
                "connected": s.connected,
                "last_ack_at": s.last_ack_at,
                "last_error": s.last_error,
                "refused": s.refused,
                "policy_version": s.policy_version,
                "spool_depth": stats.depth,
                "spool_oldest_at": stats.oldest_created_at,
                "spool_pending_gap": stats.pending_gap,
                "capabilities": {
                    "windows": caps.windows,
                    "keyboard": caps.keyboard,
                    "browser": caps.browser,
                },
                "capture_typed": self.policy.capture_typed if self.policy else True,
                "capture_titles": self.policy.capture_titles if self.policy else True,
                "agent_version": __version__,
                "lexicon_version": self.engine.version,
            },
        )

    async def _renew_daily(self, stop: asyncio.Event) -> None:
        """Keep the client certificate fresh; the next connection uses the new one."""
        while not stop.is_set():
            if await renew_if_due(self.state_dir, self.identity, datetime.now(UTC)):
                self.sender.transport = transport_for(self.state_dir, self.identity)
            try:
                await asyncio.wait_for(stop.wait(), RENEW_CHECK_S)
            except TimeoutError:
                pass

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if self.policy is not None and self.policy.notice_text:
            show_notice(self.policy.notice_text)
        else:
            show_notice("This college device is monitored for safeguarding.")
        self.observer.start()
        for guard in (self.watchdog, self.circumvention, self.tamper):
            guard.start()
        self.spool.append(self._agent_state())
        sender = asyncio.create_task(self.sender.run(stop))
        renewal = asyncio.create_task(self._renew_daily(stop))
        try:
            while not stop.is_set():
                self._write_status()
                try:
                    await asyncio.wait_for(stop.wait(), STATUS_INTERVAL_S)
                except TimeoutError:
                    pass
        finally:
            for guard in (self.watchdog, self.circumvention, self.tamper):
                guard.stop()
            self.observer.stop()
            await sender
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            self._write_status()
            self.spool.close()


def run_agent(state_dir: Path) -> int:
    identity = Identity.load(state_dir)
    if identity is None:
        print(
            f"not enrolled (state directory {state_dir}): run `lantern-agent enrol` first",
            file=sys.stderr,
        )
        return 2
    asyncio.run(AgentRunner(state_dir, identity).run())
    return 0
