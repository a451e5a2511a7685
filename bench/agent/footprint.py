"""Agent footprint, typing cost and keystroke-to-alert latency on a real desktop.

Starts Xvfb + openbox, a real collector and a real `lantern-agent run`, then
1. samples the agent's RSS/USS and CPU over an idle stretch (a focused xterm, nobody typing),
2. (``--typing-seconds``) types prose at ``--rate`` characters/s into an xterm and measures the
   agent's CPU over it,
3. types a risk phrase ``--rounds`` times into fresh windows and times keystroke → alert in the
   REST API; the agent's own keystroke → spool latencies (from its status file) are printed too.

``--threads`` adds each thread's share of the CPU (names from ``py-spy dump`` when py-spy is
installed; it is a profiling aid, not a dependency).

    .venv/bin/python -m bench.agent.footprint [--idle-seconds 300] [--typing-seconds 120]
        [--rate 50] [--rounds 20] [--threads]

CPU% is the agent process's own CPU time over wall time, so other load on the machine does not
inflate it (it can still stretch latencies).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import Collector, collector_in
from tests.desktop import Desktop, start_desktop
from tests.e2e.agent import Agent
from tests.e2e.test_walking_skeleton import RISK_PHRASE

PROSE = (
    "the weather in leeds is nice today and i like my course. "
    "my essay on the industrial revolution is due on friday, "
    "so i will finish the introduction tonight and ask for feedback. "
)


def matches_seen(collector: Collector, token: str) -> int:
    """Repeats fold into one alert, so count matches, not alerts."""
    alerts = collector.get("/api/v1/alerts", token)
    assert isinstance(alerts, list)
    return sum(int(a["count"]) for a in alerts)


def thread_names(pid: int) -> dict[int, str]:
    """Native thread id → Python thread name, from py-spy (empty without py-spy)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return {}
    out = subprocess.run(
        [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    names = {}
    for m in re.finditer(r"Thread (0x[0-9A-Fa-f]+|\d+) \(\w+\): \"([^\"]*)\"", out):
        tid = int(m.group(1), 0)
        names[tid] = m.group(2)
    return names


def measure(
    proc: psutil.Process, seconds: float, during: Callable[[], None] | None = None
) -> tuple[float, float, list[int], dict[int, float]]:
    """(wall s, cpu s, RSS samples, per-thread cpu s) over ``seconds`` or over ``during()``."""
    threads_before = {t.id: t.user_time + t.system_time for t in proc.threads()}
    cpu_start = proc.cpu_times()
    wall_start = time.monotonic()
    rss: list[int] = []
    if during is not None:
        during()
        rss.append(proc.memory_info().rss)
    else:
        while time.monotonic() - wall_start < seconds:
            rss.append(proc.memory_info().rss)
            time.sleep(1)
    cpu_end = proc.cpu_times()
    wall = time.monotonic() - wall_start
    cpu_s = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
    per_thread = {
        t.id: t.user_time + t.system_time - threads_before.get(t.id, 0.0) for t in proc.threads()
    }
    return wall, cpu_s, rss, per_thread


def print_threads(per_thread: dict[int, float], wall: float, names: dict[int, str]) -> None:
    for tid, used in sorted(per_thread.items(), key=lambda kv: -kv[1]):
        print(f"    {names.get(tid, f'thread {tid}')[:28]:28s} {100 * used / wall:6.3f}%")


def type_for(desktop: Desktop, seconds: float, rate: float) -> tuple[int, float]:
    """Type prose at ``rate`` characters/s for about ``seconds``; returns (characters, seconds)."""
    # xdotool's --delay is per key event pair with its own overhead on top: measured 38 ms for
    # 50 characters/s (20 ms gave 92/s), so about 1900/rate.
    delay_ms = max(1, round(1900 / rate))
    text = (PROSE * (1 + int(seconds * rate) // len(PROSE)))[: int(seconds * rate)]
    started = time.monotonic()
    desktop.type(text, delay_ms=delay_ms)
    return len(text), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--typing-seconds", type=float, default=0.0, help="0: no typing stretch")
    parser.add_argument("--rate", type=float, default=50.0, help="characters/s while typing")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", action="store_true", help="per-thread CPU breakdown")
    parser.add_argument(
        "--keys", default=None, help="LANTERN_X11_KEYS for the agent (record, pynput)"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lantern-bench-"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with start_desktop() as desktop:
        collector = collector_in(tmp)
        collector.start()
        env = {**desktop.env, "XDG_DATA_HOME": str(tmp)}
        if args.keys:
            env["LANTERN_X11_KEYS"] = args.keys
        agent = Agent(tmp / "agent", tmp / "agent.log", env)
        try:
            agent.enrol(collector)
            agent.start()
            token = collector.api_token("dsl")
            desktop.xterm("Idle window")
            time.sleep(3)  # let start-up settle before measuring idle cost
            assert agent.process is not None
            proc = psutil.Process(agent.process.pid)
            names = thread_names(proc.pid) if args.threads else {}
            status = agent.status()
            print(f"agent keyboard: {status.get('capabilities', {})}")

            wall, cpu_s, rss, per_thread = measure(proc, args.idle_seconds)
            uss = proc.memory_full_info().uss
            print(
                f"agent idle over {wall:.0f} s: CPU {100 * cpu_s / wall:.3f}% of one core "
                f"({cpu_s * 1000:.0f} ms), RSS median {statistics.median(rss) / 2**20:.1f} MiB "
                f"max {max(rss) / 2**20:.1f} MiB, USS {uss / 2**20:.1f} MiB, "
                f"threads {proc.num_threads()}"
            )
            if args.threads:
                print_threads(per_thread, wall, names)

            if args.typing_seconds > 0:
                window = desktop.xterm("Typing window")
                chars = [0]

                def typing() -> None:
                    n, _ = type_for(desktop, args.typing_seconds, args.rate)
                    chars[0] = n
                    time.sleep(1)  # the idle flush and the spool write after the last key

                wall, cpu_s, rss, per_thread = measure(proc, 0, typing)
                print(
                    f"agent typing {chars[0]} characters over {wall:.0f} s "
                    f"({chars[0] / max(wall - 1, 1e-6):.1f}/s): CPU {100 * cpu_s / wall:.3f}% "
                    f"of one core ({cpu_s * 1000:.0f} ms, "
                    f"{cpu_s * 1e6 / max(chars[0], 1):.0f} µs/character), "
                    f"RSS {rss[-1] / 2**20:.1f} MiB"
                )
                if args.threads:
                    print_threads(per_thread, wall, names)
                window.close()

            latencies = []
            for i in range(args.rounds):
                window = desktop.xterm(f"Latency window {i}")
                before = matches_seen(collector, token)
                desktop.type(RISK_PHRASE, delay_ms=0)
                typed = time.monotonic()
                while matches_seen(collector, token) <= before:
                    if time.monotonic() - typed > 10:
                        raise SystemExit(f"round {i}: no alert within 10 s")
                    time.sleep(0.01)
                latencies.append(time.monotonic() - typed)
                window.close()
            if latencies:
                latencies.sort()
                print(
                    f"keystroke-to-alert over {len(latencies)} rounds: "
                    f"median {statistics.median(latencies) * 1000:.0f} ms, "
                    f"worst {latencies[-1] * 1000:.0f} ms"
                )
                time.sleep(6)  # the status file is written at most every few seconds
                spool = json.loads(json.dumps(agent.status().get("key_to_spool_ms") or {}))
                if spool:
                    print(
                        f"keystroke-to-spool (agent's own clock) over {spool.get('n')} matches: "
                        f"median {spool.get('p50')} ms, p99 {spool.get('p99')} ms, "
                        f"max {spool.get('max')} ms"
                    )
            print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            agent.stop()
            collector.stop()


if __name__ == "__main__":
    main()
