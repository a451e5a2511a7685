"""`lantern-collector serve`: gRPC ingest (grpc.aio), the web app (uvicorn) and the background jobs.

One process runs all three by default (`--role all`). For scale each runs as its own process
(`--role ingest|web|jobs`), stateless apart from the database and the CA directory:

| role   | runs                                                                                |
|--------|-------------------------------------------------------------------------------------|
| ingest | gRPC Connect + enrolment ports, group commit, presence flush, the title-detection   |
|        | refresh from the console's keyword edits (per process: it feeds this ingest)        |
| web    | uvicorn: console, REST API, /healthz, /metrics                                      |
| jobs   | outbox dispatch, escalation, coverage rules, weekly report, retention purge, the    |
|        | people drop folder — each once across replicas (collector/jobs.py: leases + runs)   |

Several `ingest` processes may listen on one port on Linux: grpc core sets SO_REUSEPORT, and the
kernel spreads new connections across them (tests/scale/test_roles.py).
"""

import asyncio
import contextlib
import fcntl
import logging
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import uvicorn

from collector.alerts.config import load_alerts_config
from collector.alerts.jobs import AlertJobs
from collector.directory.store import DirectoryStore, chained_audit
from collector.directory.watch import DropFolder
from collector.ingest.service import IngestService
from collector.security.ca import CertificateAuthority
from collector.settings import Settings
from collector.store import SqlStore, Store, open_store
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import RuleSet, load_rules
from collector.triggers.subjects import CachedResolver
from collector.web.app import create_app
from lantern.detection import Engine
from lantern.grpc_options import SERVER_OPTIONS
from lantern.v1 import lantern_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

ROLES = ("all", "ingest", "web", "jobs")


def server_credentials(
    ca: CertificateAuthority, settings: Settings, require_client_cert: bool
) -> grpc.ServerCredentials:
    key, chain = ca.server_credentials(settings.tls_names)
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca.cert_pem, require_client_auth=require_client_cert
    )


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


RETENTION_INTERVAL_S = 24 * 3600


async def retention_job(directory: DirectoryStore) -> None:
    """Purge expired data once a day (idempotent, so several replicas doing it is harmless)."""
    from collector.clock import utcnow
    from collector.retention import purge

    while True:
        try:
            report = await asyncio.to_thread(
                purge, directory.engine, utcnow(), purge_left_people=directory.purge_left
            )
            log.info("retention purge: %d rows deleted %s", report.total, report.deleted)
        except Exception:  # a failed purge must not stop the collector; it retries tomorrow
            log.exception("retention purge failed")
        await asyncio.sleep(RETENTION_INTERVAL_S)


KEYWORDS_CHECK_S = 30.0


async def keywords_job(store: Store, triggers: TriggerEngine) -> None:
    """Title detection follows the console's keyword edits (agents get them with their policy)."""
    from collector.web.policy import local_keywords
    from lantern.detection.lexicon import LocalKeyword

    applied: list[LocalKeyword] = []
    while True:
        try:
            current = [
                LocalKeyword(k.id, k.action, k.phrase, k.category, k.severity)
                for k in await asyncio.to_thread(local_keywords, store)
            ]
            if current != applied:
                triggers.detection = await asyncio.to_thread(Engine.load, local=current)
                applied = current
                log.info("title detection now uses %d local keyword changes", len(current))
        except Exception:  # a bad edit must not stop the collector; the last good lexicon stays
            log.exception("applying local keywords failed")
        await asyncio.sleep(KEYWORDS_CHECK_S)


@contextlib.contextmanager
def startup_lock(var_dir: Path) -> Iterator[None]:
    """Processes starting together on one host take turns creating the CA, the server
    certificate and (on a fresh database) the schema."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with (var_dir / ".startup.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Ingest:
    """The gRPC side: Connect (mutual TLS) and enrolment ports, and what feeds them."""

    def __init__(self, settings: Settings, store: Store, directory: DirectoryStore) -> None:
        self.settings = settings
        self.store = store
        rules = load_rules(settings.rules or None)
        self.triggers = TriggerEngine(
            Engine.load(),
            settings.alert_threshold,
            rules,
            subjects=CachedResolver(directory),
            notify_delay_s=settings.notify_hold_seconds,
        )
        self.ca = (
            None if settings.plaintext else CertificateAuthority.load_or_create(settings.ca_dir)
        )
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        self.service = IngestService(store, self.triggers, settings, self.ca)
        pb_grpc.add_IngestServicer_to_server(self.service, self.server)
        if self.ca is None:
            log.warning(
                "gRPC ingest in PLAIN TEXT (--plaintext): use only on a trusted test network"
            )
            port = self.server.add_insecure_port(settings.grpc)
        else:
            port = self.server.add_secure_port(
                settings.grpc, server_credentials(self.ca, settings, True)
            )
            # Enrolment gets its own port: TLS can only demand client certificates per port, and
            # an enrolling agent has none yet. Connect on this port is refused (no certificate).
            enrol_port = self.server.add_secure_port(
                settings.enrol_address, server_credentials(self.ca, settings, False)
            )
            if enrol_port == 0:
                raise SystemExit(f"cannot listen for enrolment on {settings.enrol_address}")
        if port == 0:
            raise SystemExit(f"cannot listen for gRPC on {settings.grpc}")
        self.keywords_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.start()
        self.keywords_task = asyncio.create_task(keywords_job(self.store, self.triggers))

    async def stop(self) -> None:
        if self.keywords_task is not None:
            self.keywords_task.cancel()
            await asyncio.gather(self.keywords_task, return_exceptions=True)
        await self.server.stop(grace=5)
        await self.service.close()


class _Jobs:
    """The background jobs: alert jobs, retention purge, the people drop folder."""

    def __init__(self, settings: Settings, store: SqlStore, directory: DirectoryStore) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.rules: RuleSet = load_rules(settings.rules or None)
        self.tasks: list[asyncio.Task[None]] = []
        self.drop_folder = (
            DropFolder(directory, settings.people_drop_dir) if settings.people_drop_dir else None
        )

    async def start(self) -> None:
        if self.settings.alert_jobs:
            config = load_alerts_config(self.settings.alerts_config)
            jobs = AlertJobs(self.store, self.rules, config)
            self.tasks.append(asyncio.create_task(jobs.run()))
        self.tasks.append(asyncio.create_task(retention_job(self.directory)))
        if self.drop_folder is not None:
            self.drop_folder.start()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.drop_folder is not None:
            self.drop_folder.stop()


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` handles SIGINT/SIGTERM for every role,
    so the ingest's graceful stop (acks, presence flush) and job lease release still run after
    the web side stops (uvicorn would re-raise the signal and end the process first)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _web(settings: Settings, store: Store) -> uvicorn.Server:
    host, http_port = _split(settings.http)
    oidc = None
    if settings.oidc_issuer:
        from collector.web.auth.oidc import OidcConfig

        oidc = OidcConfig(
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret,
            settings.oidc_label,
        )
    app = create_app(store, heartbeat=timedelta(seconds=settings.heartbeat_seconds), oidc=oidc)
    app.state.settings = settings
    # proxy_headers: behind a TLS-terminating proxy the session cookie still gets Secure.
    return _WebServer(
        uvicorn.Config(
            app, host=host, port=http_port, log_config=None, access_log=False, proxy_headers=True
        )
    )


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve(settings: Settings) -> None:
    role = settings.role
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    with startup_lock(settings.var_dir):
        store = open_store(settings.database_url)
        directory = DirectoryStore.for_store(store, audit_hook=chained_audit)
        ingest = _Ingest(settings, store, directory) if role in ("all", "ingest") else None
    jobs = _Jobs(settings, store, directory) if role in ("all", "jobs") else None
    web = _web(settings, store) if role in ("all", "web") else None
    web_task: asyncio.Task[None] | None = None
    try:
        if jobs is not None:
            await jobs.start()
        if ingest is not None:
            await ingest.start()
        if web is not None:
            web_task = asyncio.create_task(web.serve())
            while not web.started and not web_task.done():
                await asyncio.sleep(0.02)
        log.info(
            "collector ready: role %s%s%s%s",
            role,
            f", gRPC {settings.grpc}" if ingest else "",
            (
                f" (enrolment {'same port' if settings.plaintext else settings.enrol_address})"
                if ingest
                else ""
            ),
            f", web http://{settings.http}" if web else "",
        )
        signalled = asyncio.create_task(_until_signalled())
        await asyncio.wait(
            [signalled, *([web_task] if web_task else [])], return_when=asyncio.FIRST_COMPLETED
        )
        signalled.cancel()
    finally:
        if web is not None and web_task is not None:
            web.should_exit = True
            await asyncio.gather(web_task, return_exceptions=True)
        if jobs is not None:
            await jobs.stop()
        if ingest is not None:
            await ingest.stop()
        store.close()


def run(settings: Settings) -> None:
    asyncio.run(serve(settings))
