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


@dataclass
class Identity:
    instance_id: str
    collector: str
    device_id: str
    device_secret: str

    @classmethod
    def load(cls, state_dir: Path) -> "Identity | None":
        path = state_dir / IDENTITY_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / IDENTITY_FILE
        tmp = path.with_suffix(".tmp")
        # The secret is a credential: owner-only, written atomically.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=2)
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
