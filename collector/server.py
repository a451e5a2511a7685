"""`lantern-collector serve`: gRPC ingest (grpc.aio) and the web app (uvicorn) in one event loop."""

import asyncio
import logging
from datetime import timedelta

import grpc
import uvicorn

from collector.alerts.config import load_alerts_config
from collector.alerts.jobs import AlertJobs
from collector.directory.store import DirectoryStore, chained_audit
from collector.directory.watch import DropFolder
from collector.ingest.service import IngestService
from collector.security.ca import CertificateAuthority
from collector.settings import Settings
from collector.store import Store, open_store
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules
from collector.triggers.subjects import CachedResolver
from collector.web.app import create_app
from lantern.detection import Engine
from lantern.grpc_options import SERVER_OPTIONS
from lantern.v1 import lantern_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


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


async def serve(settings: Settings) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    directory = DirectoryStore.for_store(store, audit_hook=chained_audit)
    rules = load_rules(settings.rules or None)
    triggers = TriggerEngine(
        Engine.load(),
        settings.alert_threshold,
        rules,
        subjects=CachedResolver(directory),
        notify_delay_s=settings.notify_hold_seconds,
    )
    jobs_task = (
        asyncio.create_task(
            AlertJobs(store, rules, load_alerts_config(settings.alerts_config)).run()
        )
        if settings.alert_jobs
        else None
    )
    retention_task = asyncio.create_task(retention_job(directory))
    keywords_task = asyncio.create_task(keywords_job(store, triggers))
    drop_folder = (
        DropFolder(directory, settings.people_drop_dir) if settings.people_drop_dir else None
    )
    if drop_folder is not None:
        drop_folder.start()

    grpc_server = grpc.aio.server(options=SERVER_OPTIONS)
    ingest = IngestService(
        store,
        triggers,
        settings,
        None if settings.plaintext else CertificateAuthority.load_or_create(settings.ca_dir),
    )
    pb_grpc.add_IngestServicer_to_server(ingest, grpc_server)
    if settings.plaintext:
        log.warning("gRPC ingest in PLAIN TEXT (--plaintext): use only on a trusted test network")
        port = grpc_server.add_insecure_port(settings.grpc)
    else:
        ca = CertificateAuthority.load_or_create(settings.ca_dir)
        port = grpc_server.add_secure_port(settings.grpc, server_credentials(ca, settings, True))
        # Enrolment gets its own port: TLS can only demand client certificates per port, and an
        # enrolling agent has none yet. Connect on this port is refused (no certificate to check).
        enrol_port = grpc_server.add_secure_port(
            settings.enrol_address, server_credentials(ca, settings, False)
        )
        if enrol_port == 0:
            raise SystemExit(f"cannot listen for enrolment on {settings.enrol_address}")
    if port == 0:
        raise SystemExit(f"cannot listen for gRPC on {settings.grpc}")
    await grpc_server.start()

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
    web = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=http_port, log_config=None, access_log=False, proxy_headers=True
        )
    )
    log.info(
        "collector listening: gRPC %s (enrolment %s), web http://%s:%d",
        settings.grpc,
        "same port" if settings.plaintext else settings.enrol_address,
        host,
        http_port,
    )
    try:
        await web.serve()  # returns on SIGINT/SIGTERM (uvicorn handles the signals)
    finally:
        retention_task.cancel()
        keywords_task.cancel()
        if jobs_task is not None:
            jobs_task.cancel()
        await asyncio.gather(
            retention_task, *([jobs_task] if jobs_task else []), return_exceptions=True
        )
        if drop_folder is not None:
            drop_folder.stop()
        await grpc_server.stop(grace=5)
        await ingest.close()
        store.close()


def run(settings: Settings) -> None:
    asyncio.run(serve(settings))
