"""Summarise a py-spy `--format raw` profile (collapsed stacks): where the collector's time goes.

    python -m bench.ingest.profile prof.txt [--top 25]

Prints samples per thread, the top functions by self time and by inclusive time (each function
counted once per stack), so "SQLAlchemy insert", "detection scan", "protobuf parse" and "event loop"
can be read off directly.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def find_py_spy() -> str | None:
    """py-spy on PATH, beside this interpreter, or in /tmp/tools (pip install py-spy)."""
    for candidate in (
        shutil.which("py-spy"),
        str(Path(__import__("sys").executable).parent / "py-spy"),
        "/tmp/tools/bin/py-spy",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def record(
    pid: int, seconds: float, out: Path, rate: int = 100, gil: bool = True, idle: bool = False
) -> bool:
    """Sample a running process for `seconds` (blocking). False if py-spy is missing or fails.

    `gil`: only the thread holding the GIL is sampled, so the profile shows where Python CPU
    goes; without it, threads waiting on the store's write lock or on fsync show up too (wall
    time). `idle`: also threads blocked in a system call (waiting for the GIL, fsync, epoll)."""
    py_spy = find_py_spy()
    if py_spy is None:
        return False
    result = subprocess.run(
        [
            py_spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            str(rate),
            "-f",
            "raw",
            "-o",
            str(out),
            "--threads",
            "--nonblocking",
            *(["--gil"] if gil else []),
            *(["--idle"] if idle else []),
        ],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and out.exists()


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['func']} ({path})"


@dataclass
class Profile:
    total: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    @classmethod
    def load(cls, path: Path) -> Profile:
        prof = cls()
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            thread, frames = frames[0], [_short(f) for f in frames[1:]]
            prof.total += n
            prof.threads[re.sub(r"0x[0-9a-f]+", "", thread).strip()] += n
            if frames:
                prof.self_time[frames[-1]] += n
            for f in set(frames):
                prof.inclusive[f] += n
        return prof

    def share(self, needle: str) -> float:
        """Fraction of all samples with a frame containing `needle` (function or file)."""
        if not self.total:
            return 0.0
        # Inclusive counts overlap between frames of one stack; take the largest matching frame
        # as a lower bound, which is exact when the needle names one function.
        return max((n for f, n in self.inclusive.items() if needle in f), default=0) / self.total

    def report(self, top: int = 25) -> str:
        out = [f"{self.total} samples"]
        out.append("threads:")
        for name, n in self.threads.most_common(8):
            out.append(f"  {100 * n / self.total:5.1f}%  {name}")
        out.append("self time:")
        for name, n in self.self_time.most_common(top):
            out.append(f"  {100 * n / self.total:5.1f}%  {name}")
        out.append("inclusive time:")
        for name, n in self.inclusive.most_common(top):
            out.append(f"  {100 * n / self.total:5.1f}%  {name}")
        return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(Profile.load(args.path).report(args.top))


if __name__ == "__main__":
    main()
