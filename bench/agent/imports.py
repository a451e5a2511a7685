"""Where the agent's memory goes: RSS after each import, in the order `lantern-agent run` needs
them, then after loading the detection engine and after giving freed heap back (malloc_trim).

    .venv/bin/python -m bench.agent.imports

Each figure is what that step added on top of the previous ones (shared libraries already loaded
by an earlier step are not counted twice, so the order matters: it is the agent's own).
"""

import ctypes
import importlib
import time

STEPS = [
    ("psutil", ["psutil"]),
    ("protobuf + generated messages", ["google.protobuf", "lantern.v1.lantern_pb2"]),
    ("sqlite3 + the spool", ["sqlite3", "agent.spool"]),
    ("asyncio (+ ssl, which asyncio imports)", ["asyncio"]),
    ("grpc + grpc.aio + stubs", ["grpc", "grpc.aio", "lantern.v1.lantern_pb2_grpc"]),
    ("sender, transport, identity, status", ["agent.sender", "agent.transport", "agent.status"]),
    ("observer, keyboard, platform base", ["agent.observe.observer"]),
    ("python-xlib + the X11 backend", ["Xlib.display", "agent.platform.x11_record"]),
    ("tamper watch (inotify), guards, ticker", ["agent.observe.tamper", "agent.limits"]),
    ("lantern.detection (code: yaml, pyahocorasick…)", ["lantern.detection"]),
    ("agent.runner (the rest)", ["agent.runner"]),
]


def status() -> dict[str, float]:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile")}


def main() -> None:
    last = status()
    print(f"{'step':48s} {'+RSS':>7s} {'RSS':>7s} {'anon':>7s} {'file':>7s}  MiB")
    print(
        f"{'python itself':48s} {'':7s} {last['VmRSS']:7.1f} {last['RssAnon']:7.1f} "
        f"{last['RssFile']:7.1f}"
    )

    def row(name: str) -> None:
        nonlocal last
        now = status()
        print(
            f"{name:48s} {now['VmRSS'] - last['VmRSS']:+7.1f} {now['VmRSS']:7.1f} "
            f"{now['RssAnon']:7.1f} {now['RssFile']:7.1f}"
        )
        last = now

    for name, modules in STEPS:
        for module in modules:
            importlib.import_module(module)
        row(name)
    from agent.runner import AGENT_WORD_MEMORY
    from lantern.detection import Engine

    started = time.monotonic()
    engine = Engine.load(word_memory=AGENT_WORD_MEMORY)
    row(f"Engine.load() ({time.monotonic() - started:.1f} s)")
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    row("malloc_trim(0) (what the agent does after start)")
    assert engine is not None


if __name__ == "__main__":
    main()
