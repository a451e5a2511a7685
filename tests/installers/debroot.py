"""A disposable Debian root for installing packages for real: debootstrap once, copy per test.

The debootstrapped root is cached under /var/tmp/lantern-debroot/<key>, keyed by suite, variant,
included packages, mirror and debootstrap's version, so only the first run pays for debootstrap
(about 35 s against deb.debian.org). Each test gets its own copy (`cp -a`, about 1 s).
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
VARIANT = "minbase"
INCLUDE = ("python3",)
MIRROR = os.environ.get("LANTERN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("LANTERN_DEBROOT_CACHE", "/var/tmp/lantern-debroot"))


def _debootstrap_version() -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "debootstrap"], capture_output=True, text=True
    )
    return out.stdout.strip()


def cache_key(include: tuple[str, ...] = INCLUDE) -> str:
    spec = "|".join([SUITE, VARIANT, ",".join(include), MIRROR, _debootstrap_version()])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def cached_root(include: tuple[str, ...] = INCLUDE) -> Path:
    """The pristine debootstrapped root, made on first use (under a lock: parallel runs wait)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    root = CACHE / cache_key(include)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".complete").exists():
            return root
        partial = CACHE / f"{root.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join(include)}",
                SUITE,
                str(partial),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"debootstrap failed: {result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        (partial / ".complete").touch()
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    return root


class DebRoot:
    """A copy of the cached root with /proc mounted; `run` executes inside it with chroot."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self,
        *cmd: str,
        user: str | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["chroot", str(self.path)]
        if user is not None:
            argv += ["runuser", "-l", user, "-c", " ".join(cmd)]
        else:
            argv += [
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                *cmd,
            ]
        result = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def spawn(self, command: str, user: str, log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running command as `user` in its own process group."""
        with log.open("ab") as out:
            return subprocess.Popen(
                ["chroot", str(self.path), "runuser", "-l", user, "-c", command],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def processes(self) -> list[int]:
        """Pids of processes whose root directory is this chroot."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "root") == str(self.path):
                    pids.append(int(entry.name))
        return pids

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def snapshot(self) -> set[str]:
        """Every path in the root, except the volatile ones (for before/after comparisons)."""
        skip = ("proc", "tmp", "dev", "run", "var/cache/apt", "var/log")
        paths = set()
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel = os.path.relpath(dirpath, self.path)
            if rel != "." and rel.startswith(skip):
                dirnames[:] = []
                continue
            for name in dirnames + filenames:
                item = os.path.normpath(os.path.join(rel, name))
                if not item.startswith(skip) and not item.endswith("-old"):
                    paths.add("/" + item)
        return paths


@contextlib.contextmanager
def debroot(workdir: Path, include: tuple[str, ...] = INCLUDE) -> Iterator[DebRoot]:
    """A fresh copy of the cached root under `workdir`, /proc mounted, cleaned up afterwards."""
    source = cached_root(include)
    path = workdir / "debroot"
    subprocess.run(["cp", "-a", str(source), str(path)], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(path / "proc")], check=True)
    root = DebRoot(path)
    try:
        yield root
    finally:
        for pid in root.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while root.processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run(["umount", "-l", str(path / "proc")], check=False)
        shutil.rmtree(path, ignore_errors=True)
