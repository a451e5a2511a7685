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
from agent.ticker import Ticker
from agent.transport import GrpcTransport
from lantern import __version__
from lantern.detection import Engine
from lantern.detection.lexicon import LocalKeyword
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

POLICY_FILE = "policy.bin"
# status.json is rewritten when something in it changes, at most once per STATUS_INTERVAL_S, and
# at least once per STATUS_KEEPALIVE_S (its age tells `lantern-agent status` the agent is alive).
STATUS_INTERVAL_S = 5.0
STATUS_KEEPALIVE_S = 60.0
RENEW_CHECK_S = 24 * 3600
# Words the detection screen remembers (~200 bytes each): the agent sees one person's text, so a
# smaller memory than the collector's keeps the engine ~4 MiB lighter (docs/detection.md).
AGENT_WORD_MEMORY = 4096


def load_engine(keywords: list[LocalKeyword] | None = None) -> Engine:
    return Engine.load(local=keywords or (), word_memory=AGENT_WORD_MEMORY)


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


def latency_summary(seconds: list[float]) -> dict[str, float] | None:
    """Median, p99 and max in ms of the last keystroke → spool latencies (no content)."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "n": len(ordered),
        "p50": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99": round(p99 * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


class AgentRunner:
    def __init__(self, state_dir: Path, identity: Identity) -> None:
        self.state_dir = state_dir
        self.identity = identity
        self.policy = load_policy(state_dir)
        self.engine = load_engine()
        self._packaged_version = self.engine.version
        if self.policy is not None and self.policy.keywords:
            # Offline start: the cached policy's keywords apply before the collector is reached.
            self.engine = load_engine(local_keywords(self.policy))
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
            on_change=self._status_changed,
        )
        self.spool.on_append = self._appended
        self._process = psutil.Process()
        sink = SpoolSink(self.spool)
        self.watchdog = SelfWatchdog(sink.emit, self._restart_observer)
        self.circumvention = CircumventionScanner(sink.emit, own_pid=os.getpid())
        self.tamper = TamperWatch(sink.emit, tamper_paths(state_dir), clock_check_s=None)
        # One thread, one timer for every periodic guard (see agent.ticker).
        self.ticker = Ticker(
            [(1, self.watchdog.tick), (2, self.tamper.tick), (2, self.circumvention.scan)]
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._last_status: dict[str, object] | None = None
        self._last_status_at = 0.0

    def _appended(self) -> None:
        """The spool has a new event (any thread): wake the sender; the depth shown changed."""
        self.sender.wake()
        loop, dirty = self._loop, self._dirty
        if loop is not None and dirty is not None and not dirty.is_set():
            loop.call_soon_threadsafe(dirty.set)

    def _status_changed(self) -> None:
        """On the event loop: something status.json shows changed."""
        if self._dirty is not None:
            self._dirty.set()

    def _restart_observer(self) -> None:
        """Called by the self-watchdog from its thread: a fresh observer, same engine and policy."""
        self.observer.stop()
        self.observer = Observer(self.engine, SpoolSink(self.spool), observe_policy(self.policy))
        self.observer.start()

    def _load_engine(self, keywords: list[LocalKeyword]) -> None:
        engine = load_engine(keywords)
        self.engine = engine
        self.observer.set_engine(engine)
        trim_heap()  # the old engine and the compile's garbage
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

    def _write_status(self, *, force: bool = False) -> None:
        """Write status.json if anything in it changed (or ``force``, the keep-alive)."""
        stats = self.spool.stats()
        caps = self.observer.capabilities()
        s = self.sender.state
        status: dict[str, object] = {
            "pid": os.getpid(),
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
            "key_to_spool_ms": latency_summary(self.observer.stats.key_to_emit_s),
        }
        if not force and status == self._last_status:
            return
        self._last_status = status
        self._last_status_at = time.monotonic()
        write_status(self.state_dir, {**status, "written_at": time.time()})

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
        self._loop, self._dirty = loop, asyncio.Event()
        self.observer.start()
        self.tamper.start()
        self.watchdog.tick()  # the first sample of the first window
        self.circumvention.scan()
        self.ticker.start()
        self.spool.append(self._agent_state())
        sender = asyncio.create_task(self.sender.run(stop))
        renewal = asyncio.create_task(self._renew_daily(stop))
        try:
            await self._status_loop(stop, self._dirty)
        finally:
            self.ticker.stop()
            self.tamper.stop()
            self.observer.stop()
            await sender
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            self._write_status(force=True)
            self.spool.close()
            trim_heap()

    async def _status_loop(self, stop: asyncio.Event, dirty: asyncio.Event) -> None:
        """Write status.json on change, coalesced to one write per STATUS_INTERVAL_S, and as a
        keep-alive; idle, this wakes once a minute."""
        self._write_status(force=True)
        trim_heap()  # start-up garbage (lexicon loading, imports) goes back to the OS
        while not stop.is_set():
            keepalive_in = STATUS_KEEPALIVE_S - (time.monotonic() - self._last_status_at)
            dirty.clear()
            stopping = asyncio.ensure_future(stop.wait())
            changed = asyncio.ensure_future(dirty.wait())
            await asyncio.wait(
                {stopping, changed}, timeout=max(0.0, keepalive_in), return_when="FIRST_COMPLETED"
            )
            for task in (stopping, changed):
                task.cancel()
            if stop.is_set():
                return
            if dirty.is_set():
                # Coalesce a burst (a batch acked, events spooled) into one write.
                wait = STATUS_INTERVAL_S - (time.monotonic() - self._last_status_at)
                if wait > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                        return
                    except TimeoutError:
                        pass
                self._write_status()
            else:
                self._write_status(force=True)


def trim_heap() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise: several MiB after start-up)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
