"""The collector's one settings object (environment variables prefixed LANTERN_, CLI flags on top)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANTERN_")

    var_dir: Path = Path("var")
    # Empty means the embedded SQLite database under var_dir.
    db: str = ""
    grpc: str = "127.0.0.1:50051"
    http: str = "127.0.0.1:8080"
    # How often agents are asked to send a heartbeat; coverage status is computed from it.
    heartbeat_seconds: int = 30
    # Input limits: a batch over these is refused with a clear reason, never half-stored.
    max_batch_events: int = 1000
    max_message_bytes: int = 4 * 1024 * 1024
    # Severity at and above which a match becomes an alert.
    alert_threshold: int = 3

    @property
    def database_url(self) -> str:
        if self.db:
            return self.db
        return f"sqlite:///{(self.var_dir / 'lantern.db').resolve()}"
