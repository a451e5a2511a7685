"""Circumvention signs in the process list: VPNs, proxies and Tor running on a college device.

Scanned every 30 s; each process is reported once when it appears (by name and pid), not on
every scan. Names are matched case-insensitively without the .exe suffix.

On Linux a scan lists ``/proc`` and reads the name of new pids only (psutil's ``process_iter``
re-read every process's ``stat`` each time: ~2.4 ms per 100 processes, ~10 ms on a laptop with
400); every tenth scan re-reads them all, so a process that ``exec``'d into a VPN client under an
old pid is still seen within five minutes. Elsewhere psutil lists them.
"""

import os
import sys
import threading
from collections.abc import Callable, Iterable

import psutil

from lantern.v1 import lantern_pb2 as pb

SCAN_INTERVAL_S = 30.0

# Process name → what it is. Kept short and specific: a generic name ("proxy") would flag IT tools.
KNOWN: dict[str, str] = {
    "tor": "tor",
    "tor browser": "tor",
    "obfs4proxy": "tor",
    "snowflake-client": "tor",
    "openvpn": "vpn",
    "openvpn-gui": "vpn",
    "wireguard": "vpn",
    "wg-quick": "vpn",
    "nordvpn": "vpn",
    "nordvpn-service": "vpn",
    "nordvpnd": "vpn",
    "expressvpn": "vpn",
    "expressvpnd": "vpn",
    "protonvpn": "vpn",
    "protonvpn-app": "vpn",
    "windscribe": "vpn",
    "windscribeservice": "vpn",
    "tunnelbear": "vpn",
    "hotspotshield": "vpn",
    "hsscp": "vpn",
    "mullvad-daemon": "vpn",
    "mullvad-vpn": "vpn",
    "surfshark": "vpn",
    "cyberghost": "vpn",
    "warp-svc": "vpn",
    "psiphon3": "proxy",
    "psiphon": "proxy",
    "ultrasurf": "proxy",
    "u1912": "proxy",
    "ss-local": "proxy",
    "sslocal": "proxy",
    "shadowsocks": "proxy",
    "v2ray": "proxy",
    "xray": "proxy",
    "clash": "proxy",
    "clash-verge": "proxy",
    "proxifier": "proxy",
    "lantern": "proxy",  # getlantern.org's censorship tool shares our name
}


def classify(name: str) -> str | None:
    """'NordVPN.exe' → 'vpn'; None when the name is not a known circumvention tool."""
    key = name.lower().removesuffix(".exe").strip()
    return KNOWN.get(key)


class CircumventionScanner:
    def __init__(
        self,
        emit: Callable[[pb.Event], None],
        *,
        interval_s: float = SCAN_INTERVAL_S,
        own_pid: int | None = None,
        processes: Callable[[], Iterable[tuple[int, str]]] | None = None,
    ) -> None:
        self.emit = emit
        self.interval_s = interval_s
        self.own_pid = own_pid
        self._processes = processes or (
            ProcNames() if sys.platform.startswith("linux") else _process_names
        )
        self._seen: set[tuple[int, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lantern-processes", daemon=True)

    def start(self) -> None:
        """Scan from a thread of its own every ``interval_s`` (the runner's ticker calls
        :meth:`scan` instead)."""
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            self.scan()
            if self._stop.wait(self.interval_s):
                return

    def scan(self) -> list[pb.Event]:
        """Report processes that appeared since the last scan; returns the events emitted."""
        current = set()
        emitted = []
        for pid, name in self._processes():
            kind = classify(name)
            if kind is None or pid == self.own_pid:
                continue
            current.add((pid, name))
            if (pid, name) in self._seen:
                continue
            event = pb.Event()
            event.circumvention.CopyFrom(pb.CircumventionSign(kind=kind, detail=f"process {name}"))
            self.emit(event)
            emitted.append(event)
        self._seen = current
        return emitted


def _process_names() -> Iterable[tuple[int, str]]:
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            yield proc.pid, name


class ProcNames:
    """(pid, name) of every process from ``/proc``, reading only new pids' names."""

    FULL_EVERY = 10

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._names: dict[int, str] = {}
        self._calls = 0

    def __call__(self) -> list[tuple[int, str]]:
        self._calls += 1
        full = self._calls % self.FULL_EVERY == 0
        try:
            pids = [int(e) for e in os.listdir(self.proc) if e.isdigit()]
        except OSError:
            return list(_process_names())
        old = self._names
        names: dict[int, str] = {}
        for pid in pids:
            name = None if full else old.get(pid)
            if name is None:
                name = _name(pid)
                if not name:
                    continue
            names[pid] = name
        self._names = names
        return list(names.items())


def _name(pid: int) -> str:
    """psutil's name: ``comm`` (cut at 15 characters), completed from the command line."""
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return ""
