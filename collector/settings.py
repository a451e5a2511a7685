"""The collector's one settings object (environment variables prefixed LANTERN_, CLI flags on top)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def enrol_address_for(grpc_address: str) -> str:
    """The enrolment endpoint's default: the same host, the next port."""
    host, _, port = grpc_address.rpartition(":")
    return f"{host}:{int(port) + 1}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANTERN_")

    var_dir: Path = Path("var")
    # What `serve` runs: all (gRPC ingest + web + background jobs), or one of ingest, web, jobs
    # (several processes, one database: docs/deploy.md "Many collectors").
    role: str = "all"
    # host:port for an unauthenticated Prometheus endpoint (ingest and jobs processes have no
    # web server; keep it on a private network). Empty: off (the web role has /metrics).
    metrics: str = ""
    # Empty means the embedded SQLite database under var_dir.
    db: str = ""
    # Connect (mutual TLS: agents present their client certificate).
    grpc: str = "127.0.0.1:50051"
    # Enrol (server TLS only: an agent has no certificate yet). Empty: the gRPC port + 1.
    enrol: str = ""
    http: str = "127.0.0.1:8080"
    # TLS with the collector's own CA is the default; plain text only when asked for explicitly.
    plaintext: bool = False
    # Extra DNS names for the server certificate (agents always check the fixed name
    # "lantern-collector", so these only matter to other clients).
    tls_names: list[str] = []
    # How often agents are asked to send a heartbeat; coverage status is computed from it.
    heartbeat_seconds: int = 30
    # Input limits: a batch over these is refused with a clear reason, never half-stored.
    max_batch_events: int = 1000
    # Event rate limits (token buckets; 0 switches one off). Per device: an abuse guard far above
    # a real agent (~1 event/s; a 14-day spool drains at this rate). Global: protects the
    # database; set it to what this deployment measured (docs/scale.md). Over a limit the batch
    # is answered Ack{retry} + Throttle{rate, retry_after}: the agent keeps it and slows down.
    device_events_per_second: float = 2000.0
    device_event_burst: int = 20_000
    global_events_per_second: float = 0.0
    global_event_burst: int = 100_000
    # Enrolments accepted per source address per minute (token guessing is refused beyond this).
    enrolments_per_minute: int = 120
    max_message_bytes: int = 4 * 1024 * 1024
    # Who students and parents should ask about monitoring (shown on the public /transparency page).
    dsl_contact: str = ""
    # Trigger rules: YAML files or directories (empty: the packaged collector/triggers/rules/).
    rules: list[Path] = []
    # Alerts config YAML (SMTP, channels, on-call rota, weekly report); empty: console only.
    alerts_config: Path | None = None
    # Hold before notifying a below-5 alert that may still join a cohort cluster.
    notify_hold_seconds: float = 120.0
    # Run the alert background jobs (outbox, escalation, coverage, weekly report) in this process.
    alert_jobs: bool = True
    # Background jobs run once across replicas: the holder of a job's lease renews it every third
    # of this; when the holder dies another replica takes over after at most this long.
    job_lease_seconds: float = 30.0
    # Job intervals in seconds, by name (escalation, coverage, weekly_report, retention), over the
    # defaults (30, 300, 600, 86400); e.g. LANTERN_JOB_INTERVALS='{"retention": 3600}'.
    job_intervals: dict[str, float] = {}
    # A folder watched for people exports (MIS, Entra, Google); empty: no watching.
    people_drop_dir: Path | None = None
    # Console sign-in with Entra ID / any OpenID Connect provider; empty issuer = off.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_label: str = "Microsoft 365"
    # The longest a device's resolved policy is reused: only a safety expiry. Edits do not wait
    # for it: every policy, directory and keyword write bumps the policy generation, each ingest
    # process reads it every 2 s and then marks its cached policies stale, so agents get the
    # change at their next heartbeat (see policy_refreshes_per_second). Resolving is several
    # queries per device: at 60 s, 10,000 streams recomputed 167 policies a second and the
    # collector fell behind on heartbeats (docs/scale.md); at 3,600 s, about 3 a second.
    policy_cache_seconds: float = 3600.0
    # How many stale policies one ingest process works out again a second (a first policy at
    # connect is never held back). After an edit every device's policy is stale: 10,000 of them
    # in one heartbeat interval put heartbeats 20-30 s behind (docs/scale.md); at 50 a second a
    # fleet of 1,500 has the change within a heartbeat, 10,000 within about 3.5 minutes.
    policy_refreshes_per_second: float = 50.0
    # Severity at and above which a match becomes an alert.
    alert_threshold: int = 3

    @property
    def enrol_address(self) -> str:
        return self.enrol or enrol_address_for(self.grpc)

    @property
    def ca_dir(self) -> Path:
        return self.var_dir / "ca"

    @property
    def database_url(self) -> str:
        if self.db:
            return self.db
        return f"sqlite:///{(self.var_dir / 'lantern.db').resolve()}"
