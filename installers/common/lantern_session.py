"""`lantern-agent-session`: what the installers start in every user session.

The installers (systemd user unit and XDG autostart on Linux, an HKLM Run value on Windows, a
LaunchAgent on macOS) all start this one program. It

1. takes a per-user lock, so a second start in the same session (say, systemd *and* XDG autostart)
   exits quietly instead of running the agent twice;
2. enrols the user's agent from the machine configuration written by the installer, if this user is
   not enrolled yet, retrying with capped backoff while the collector cannot be reached;
3. runs `lantern-agent run` (in-process, or as a supervised child with `--supervise` where nothing
   else restarts it).

Machine configuration is one INI file, the same on every platform::

    [agent]
    collector = lantern.college.example:50051
    token = <enrolment token from `lantern-collector tokens create`>
    # optional: where enrolment goes when it is not the collector's port + 1
    enrol_address = lantern.college.example:50052

Linux: /etc/lantern/agent.conf; Windows: %ProgramData%\\Lantern\\agent.conf; macOS:
/Library/Application Support/Lantern/agent.conf. `LANTERN_AGENT_CONF` overrides the path. On
Windows, `Collector`/`Token` values under HKLM\\SOFTWARE\\Policies\\Lantern\\Agent (Group Policy)
win over the file; on macOS so do the keys of a managed preference domain `uk.ac.lantern.agent`
(configuration profile).

`lantern-agent-session configure --collector HOST:PORT --token T` writes that file (the MSI's
custom action and the macOS postinstall use it); `lantern-agent-session uninstall-cleanup` removes it
and every local profile's agent state (the MSI's uninstall custom action, the macOS uninstall script).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import logging
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("lantern-agent-session")

SECTION = "agent"
MACOS_DOMAIN = "uk.ac.lantern.agent"
LOCK_FILE = "session.lock"
BACKOFF_FIRST_S = 5.0
BACKOFF_CAP_S = 900.0


@dataclass(frozen=True)
class MachineConfig:
    collector: str
    token: str
    enrol_address: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.collector and self.token)


def default_config_path() -> Path:
    if "LANTERN_AGENT_CONF" in os.environ:
        return Path(os.environ["LANTERN_AGENT_CONF"])
    if sys.platform == "win32":
        base = Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData"))
        return base / "Lantern" / "agent.conf"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Lantern/agent.conf")
    return Path("/etc/lantern/agent.conf")


def read_config_file(path: Path) -> MachineConfig:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"), source=str(path))
    except FileNotFoundError:
        return MachineConfig("", "")
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        log.error("cannot read %s: %s", path, exc)
        return MachineConfig("", "")
    if not parser.has_section(SECTION):
        return MachineConfig("", "")
    section = parser[SECTION]
    return MachineConfig(
        section.get("collector", "").strip(),
        section.get("token", "").strip(),
        section.get("enrol_address", "").strip(),
    )


def _windows_policy() -> MachineConfig:
    try:
        import winreg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return MachineConfig("", "")
    values: dict[str, str] = {}
    try:
        with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
            winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined,unused-ignore]
            r"SOFTWARE\Policies\Lantern\Agent",
        ) as key:
            for name in ("Collector", "Token", "EnrolAddress"):
                try:
                    values[name] = str(winreg.QueryValueEx(key, name)[0]).strip()  # type: ignore[attr-defined,unused-ignore]
                except OSError:
                    values[name] = ""
    except OSError:
        return MachineConfig("", "")
    return MachineConfig(values["Collector"], values["Token"], values["EnrolAddress"])


def _macos_managed(managed_dir: Path = Path("/Library/Managed Preferences")) -> MachineConfig:
    import plistlib

    path = managed_dir / f"{MACOS_DOMAIN}.plist"
    try:
        data: dict[str, Any] = plistlib.loads(path.read_bytes())
    except (OSError, plistlib.InvalidFileException):
        return MachineConfig("", "")
    return MachineConfig(
        *(str(data.get(key, "")).strip() for key in ("Collector", "Token", "EnrolAddress"))
    )


def load_config(path: Path | None = None) -> MachineConfig:
    """Managed settings (GPO / MDM) first, then the installer's file; per key."""
    from_file = read_config_file(path or default_config_path())
    managed = MachineConfig("", "")
    if sys.platform == "win32":
        managed = _windows_policy()
    elif sys.platform == "darwin":
        managed = _macos_managed()
    return MachineConfig(
        managed.collector or from_file.collector,
        managed.token or from_file.token,
        managed.enrol_address or from_file.enrol_address,
    )


def write_config(path: Path, config: MachineConfig) -> None:
    """Write the machine configuration atomically. It must stay readable by every user: the agent
    runs in the user's session and enrols with this token (see docs/installers.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parser = configparser.ConfigParser(interpolation=None)
    parser[SECTION] = {"collector": config.collector, "token": config.token}
    if config.enrol_address:
        parser[SECTION]["enrol_address"] = config.enrol_address
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("# Lantern agent machine configuration, written by the installer.\n")
        f.write("# Each user's agent enrols with this collector and token at first login.\n")
        parser.write(f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def state_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    from agent.identity import default_state_dir

    return default_state_dir()


def is_enrolled(sdir: Path) -> bool:
    from agent.identity import Identity

    try:
        return Identity.load(sdir) is not None
    except (OSError, ValueError, TypeError):
        log.warning("identity in %s is unreadable; enrolling again", sdir)
        return False


def _agent_main(argv: list[str]) -> int:
    from agent.cli import main

    return int(main(argv))


def ensure_enrolled(
    sdir: Path,
    config_path: Path | None,
    *,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    agent: Callable[[list[str]], int] = _agent_main,
) -> bool:
    """Enrol from the machine configuration unless already enrolled. Retries with full-jitter
    capped backoff; `max_attempts=None` retries for ever (a laptop first booted off-site)."""
    attempt = 0
    delay = BACKOFF_FIRST_S
    while True:
        if is_enrolled(sdir):
            return True
        config = load_config(config_path)
        if not config.complete:
            log.error(
                "not enrolled and no collector/token configured in %s",
                config_path or default_config_path(),
            )
        else:
            argv = [
                "--state-dir",
                str(sdir),
                "enrol",
                "--collector",
                config.collector,
                "--token",
                config.token,
            ]
            if config.enrol_address:
                argv += ["--enrol-address", config.enrol_address]
            code = agent(argv)
            if code == 0 and is_enrolled(sdir):
                return True
            log.warning("enrolment with %s failed (exit %s)", config.collector, code)
        attempt += 1
        if max_attempts is not None and attempt >= max_attempts:
            return False
        sleep(random.uniform(0, delay))
        delay = min(delay * 2, BACKOFF_CAP_S)


class SessionLock:
    """A per-user, per-machine lock held for the life of the session process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        f = self.path.open("a+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_CHILD_BOOT = (
    "import site, sys; site.addsitedir(sys.argv.pop(1)); "
    "from lantern_session import main; sys.exit(main(sys.argv[1:]))"
)


def agent_command() -> list[str]:
    """How to start `lantern-agent` as a child of this process, with the same imports: the frozen
    bundle is one executable (`--agent`); otherwise the same interpreter and flags (-I, -S in the
    .deb's launchers) with this module's directory (the vendored site-packages) added."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--agent"]
    flags = [flag for flag, on in (("-I", sys.flags.isolated), ("-S", sys.flags.no_site)) if on]
    here = str(Path(__file__).resolve().parent)
    return [sys.executable, *flags, "-c", _CHILD_BOOT, here, "--agent"]


def _run_supervised(sdir: Path) -> int:
    """Run the agent as a child and restart it when it dies (Windows Run value: nothing else will)."""
    delay = BACKOFF_FIRST_S
    cmd = agent_command()
    while True:
        started = time.monotonic()
        code = subprocess.call([*cmd, "--state-dir", str(sdir), "run"])
        if code == 0:
            return 0
        if time.monotonic() - started > 300:
            delay = BACKOFF_FIRST_S
        log.warning("agent exited with %s; restarting in %.0f s", code, delay)
        time.sleep(delay)
        delay = min(delay * 2, BACKOFF_CAP_S)


def _cmd_session(args: argparse.Namespace) -> int:
    sdir = state_dir(args.state_dir)
    lock = SessionLock(sdir / LOCK_FILE)
    if not lock.acquire():
        log.info("the agent is already running in this session (%s held)", lock.path)
        return 0
    try:
        config_path = Path(args.config) if args.config else None
        if not ensure_enrolled(sdir, config_path, max_attempts=args.attempts):
            return 1
        if args.enrol_only:
            return 0
        if args.supervise:
            return _run_supervised(sdir)
        return _agent_main(["--state-dir", str(sdir), "run"])
    finally:
        lock.release()


def profile_homes() -> list[Path]:
    """Home directories of the machine's local profiles (Windows: the ProfileList registry key)."""
    if sys.platform == "win32":
        import winreg  # type: ignore[import-not-found,unused-ignore]

        homes = []
        key_path = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:  # type: ignore[attr-defined,unused-ignore]
            for i in range(winreg.QueryInfoKey(key)[0]):  # type: ignore[attr-defined,unused-ignore]
                sid = winreg.EnumKey(key, i)  # type: ignore[attr-defined,unused-ignore]
                try:
                    with winreg.OpenKey(key, sid) as sub:  # type: ignore[attr-defined,unused-ignore]
                        path = winreg.QueryValueEx(sub, "ProfileImagePath")[0]  # type: ignore[attr-defined,unused-ignore]
                except OSError:
                    continue
                homes.append(Path(os.path.expandvars(str(path))))
        return homes
    users = Path("/Users") if sys.platform == "darwin" else Path("/home")
    return [p for p in users.iterdir() if p.is_dir()] if users.is_dir() else []


def profile_state_dir(home: Path) -> Path:
    """The agent's default state directory inside one profile (see agent.identity)."""
    if sys.platform == "win32":
        return home / "AppData" / "Local" / "lantern"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "lantern"
    return home / ".local" / "share" / "lantern"


def uninstall_cleanup(config_path: Path, homes: Sequence[Path]) -> list[Path]:
    """Remove the machine configuration and each profile's agent state; returns what was removed.
    Symlinks are never followed (a user cannot point this at someone else's files)."""
    removed = []
    if config_path.is_file() or config_path.is_symlink():
        config_path.unlink()
        removed.append(config_path)
    with contextlib.suppress(OSError):
        config_path.parent.rmdir()  # only when empty
    for home in homes:
        sdir = profile_state_dir(home)
        if sdir.is_symlink():
            sdir.unlink()
            removed.append(sdir)
        elif sdir.is_dir():
            shutil.rmtree(sdir, ignore_errors=True)
            removed.append(sdir)
    return removed


def _cmd_uninstall_cleanup(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else default_config_path()
    homes = [Path(h) for h in args.home] if args.home else profile_homes()
    for removed in uninstall_cleanup(path, homes):
        print(f"removed {removed}")
    return 0


def _cmd_configure(args: argparse.Namespace) -> int:
    path = Path(args.config) if args.config else default_config_path()
    current = read_config_file(path)
    config = MachineConfig(
        (args.collector or current.collector).strip(),
        (args.token or current.token).strip(),
        (args.enrol_address or current.enrol_address).strip(),
    )
    if not (args.collector or args.token or args.enrol_address):
        print(f"nothing to write; {path} left as it is", file=sys.stderr)
        return 0
    write_config(path, config)
    print(f"wrote {path} (collector {config.collector or '-'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lantern-agent-session", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", help="machine configuration file (default: platform path)")
    parser.add_argument("--state-dir", help="the agent's state directory (default: user data dir)")
    sub = parser.add_subparsers(dest="command")
    session = sub.add_parser("session", help="enrol if needed, then run (the default)")
    configure = sub.add_parser("configure", help="write the machine configuration file")
    configure.add_argument("--collector", default="", help="HOST:PORT of the collector")
    configure.add_argument("--token", default="", help="enrolment token")
    configure.add_argument(
        "--enrol-address", default="", help="HOST:PORT for enrolment (default: collector port + 1)"
    )
    configure.set_defaults(func=_cmd_configure)
    cleanup = sub.add_parser(
        "uninstall-cleanup", help="remove the machine configuration and every profile's agent state"
    )
    cleanup.add_argument(
        "--home", action="append", help="a profile home directory (default: all local profiles)"
    )
    cleanup.set_defaults(func=_cmd_uninstall_cleanup)
    for p in (parser, session):
        p.add_argument("--enrol-only", action="store_true", help="enrol if needed, do not run")
        p.add_argument("--supervise", action="store_true", help="restart the agent when it dies")
        p.add_argument(
            "--attempts", type=int, default=None, help="give up after N enrolment attempts"
        )
        p.set_defaults(func=_cmd_session)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--agent"]:
        # The frozen Windows/macOS bundle is one executable: `--agent ...` is `lantern-agent ...`.
        return _agent_main(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
