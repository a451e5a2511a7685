"""`lantern-collector serve`: gRPC ingest (grpc.aio), the web app (uvicorn) and the background jobs.

One process runs all three by default (`--role all`). For scale each runs as its own process
(`--role ingest|web|jobs`), stateless apart from the database and the CA directory:

| role   | runs                                                                                |
|--------|-------------------------------------------------------------------------------------|
| ingest | gRPC Connect + enrolment ports, group commit, presence flush, the title-detection   |
|        | refresh from the console's keyword edits (per process: it feeds this ingest)        |
| web    | uvicorn: console, REST API, /healthz                                                |
| jobs   | escalation, coverage rules, weekly report, retention purge and the people drop      |
|        | folder, each once across replicas (collector/jobs.py); outbox dispatch on every     |
|        | replica (it leases outbox rows)                                                     |

Several `ingest` processes may listen on one port on Linux: grpc core sets SO_REUSEPORT, and the
kernel spreads new connections across them (tests/scale/test_roles.py).
"""

import asyncio
import contextlib
import fcntl
import logging
import signal
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import uvicorn

from collector.alerts.config import load_alerts_config
from collector.alerts.jobs import AlertJobs, replica_id
from collector.directory.store import DirectoryStore
from collector.directory.watch import DropFolder
from collector.ingest.service import IngestService
from collector.jobs import ExclusiveService, JobRunner, PeriodicJob
from collector.security.ca import CertificateAuthority
from collector.settings import Settings
from collector.store import SqlStore, Store, open_store
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules
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


def retention_once(directory: DirectoryStore, now: datetime) -> None:
    """Purge expired data (the daily `retention` job)."""
    from collector.retention import purge

    report = purge(directory.engine, now, purge_left_people=directory.purge_left)
    log.info("retention purge: %d rows deleted %s", report.total, report.deleted)


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


# Any fixed number: PostgreSQL advisory lock held while one replica migrates the schema.
MIGRATION_LOCK = 0x4C414E54


def open_store_once(url: str) -> SqlStore:
    """`open_store`, with replicas on other hosts taking turns to migrate a PostgreSQL schema."""
    if not url.startswith("postgresql"):
        return open_store(url)
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            try:
                return open_store(url)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
    finally:
        engine.dispose()


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
    """The background jobs, each once across replicas (collector/jobs.py): escalation, coverage
    rules, weekly report, retention purge and the people drop folder; plus the outbox dispatcher,
    which every replica runs (it leases rows, not the job)."""

    def __init__(self, settings: Settings, store: SqlStore, directory: DirectoryStore) -> None:
        self.settings = settings
        self.holder = replica_id()
        self.runner = JobRunner(store, self.holder, lease_seconds=settings.job_lease_seconds)
        self.alerts = (
            AlertJobs(
                store,
                load_rules(settings.rules or None),
                load_alerts_config(settings.alerts_config),
                owner=self.holder,
            )
            if settings.alert_jobs
            else None
        )
        intervals = {
            **(self.alerts.intervals if self.alerts else {}),
            "retention": RETENTION_INTERVAL_S,
        }
        intervals.update((k, v) for k, v in settings.job_intervals.items() if k in intervals)
        bodies: dict[str, Callable[[datetime], object]] = {
            "retention": lambda now: retention_once(directory, now)
        }
        if self.alerts is not None:
            bodies |= {
                "escalation": self.alerts.escalation_once,
                "coverage": self.alerts.coverage_once,
                "weekly_report": self.alerts.weekly_report_once,
            }
        self.periodic = [PeriodicJob(name, intervals[name], body) for name, body in bodies.items()]
        self.services = []
        if settings.people_drop_dir is not None:
            folder = settings.people_drop_dir

            def watch() -> Callable[[], None]:
                drop = DropFolder(directory, folder)
                drop.start()
                return drop.stop

            self.services.append(ExclusiveService("drop_folder", watch))
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.alerts is not None:
            dispatcher = self.alerts.dispatcher.run_forever(self.alerts.dispatch_interval)
            self.tasks.append(asyncio.create_task(dispatcher))
        self.tasks += [asyncio.create_task(self.runner.periodic(job)) for job in self.periodic]
        self.tasks += [asyncio.create_task(self.runner.exclusive(s)) for s in self.services]
        log.info("background jobs as %s: %s", self.holder, ", ".join(j.name for j in self.periodic))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.to_thread(self.runner.release)


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


def _serve_metrics(settings: Settings, store: Store) -> None:
    """Prometheus metrics on their own port (a daemon thread of prometheus_client)."""
    from prometheus_client import start_http_server

    from collector import metrics

    host, _, port = settings.metrics.rpartition(":")
    metrics.watch_database(store.engine, timedelta(seconds=settings.heartbeat_seconds))  # type: ignore[attr-defined]
    start_http_server(int(port), addr=host or "127.0.0.1", registry=metrics.REGISTRY)
    log.info("Prometheus metrics on http://%s/metrics", settings.metrics)


async def serve(settings: Settings) -> None:
    role = settings.role
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    with startup_lock(settings.var_dir):
        store = open_store_once(settings.database_url)
        directory = DirectoryStore.for_store(store)
        ingest = _Ingest(settings, store, directory) if role in ("all", "ingest") else None
    jobs = _Jobs(settings, store, directory) if role in ("all", "jobs") else None
    web = _web(settings, store) if role in ("all", "web") else None
    if settings.metrics:
        _serve_metrics(settings, store)
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
