"""The agent's identity and credentials, kept in its state directory.

Identity is a random instance id made on first enrolment, so cloned laptop images don't collide;
hostname and hardware serial are attributes reported to the collector, not identity.
"""

import json
import os
import platform
import socket
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

IDENTITY_FILE = "identity.json"


def default_state_dir() -> Path:
    """Per-user data directory: XDG on Linux, LOCALAPPDATA on Windows, Application Support on macOS."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "lantern"


KEY_FILE = "client.key"
CERT_FILE = "client.pem"
CA_FILE = "ca.pem"


@dataclass
class Identity:
    instance_id: str
    collector: str
    device_id: str
    device_secret: str
    # False only when enrolled with --plaintext against a collector run with --plaintext.
    tls: bool = True

    @classmethod
    def load(cls, state_dir: Path) -> "Identity | None":
        path = state_dir / IDENTITY_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, state_dir: Path) -> None:
        write_private(state_dir / IDENTITY_FILE, json.dumps(asdict(self), indent=2).encode())


@dataclass(frozen=True)
class TlsFiles:
    """The agent's client key and certificate and the pinned collector CA, as PEM."""

    key: bytes
    cert: bytes
    ca: bytes

    @classmethod
    def load(cls, state_dir: Path) -> "TlsFiles":
        return cls(
            key=(state_dir / KEY_FILE).read_bytes(),
            cert=(state_dir / CERT_FILE).read_bytes(),
            ca=(state_dir / CA_FILE).read_bytes(),
        )

    def save(self, state_dir: Path) -> None:
        write_private(state_dir / KEY_FILE, self.key)
        write_private(state_dir / CERT_FILE, self.cert)
        write_private(state_dir / CA_FILE, self.ca)


def write_private(path: Path, data: bytes) -> None:
    """Owner-only, atomic, fsynced: credentials must not be half-written or world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_instance_id() -> str:
    return uuid.uuid4().hex


def hostname() -> str:
    return socket.gethostname()


def os_name() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)


def os_version() -> str:
    return platform.platform()


def hardware_serial() -> str:
    """Best effort; empty when the platform does not let an unprivileged user read it."""
    for path in ("/sys/class/dmi/id/product_serial", "/sys/class/dmi/id/product_uuid"):
        try:
            return Path(path).read_text().strip()[:128]
        except OSError:
            continue
    return ""


def os_user() -> str:
    """The signed-in OS user as the platform spells it (DOMAIN\\user on Windows)."""
    try:
        import getpass

        user = getpass.getuser()
    except Exception:  # getpass raises several types when no user can be found
        user = ""
    domain = os.environ.get("USERDOMAIN") if sys.platform == "win32" else None
    return f"{domain}\\{user}" if domain else user
