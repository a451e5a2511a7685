"""Agent footprint and keystroke-to-alert latency on a real desktop.

Starts Xvfb + openbox, a real collector and a real `lantern-agent run`, then
1. samples the agent's RSS/USS and CPU over an idle minute (a focused xterm, nobody typing),
2. types a risk phrase 20 times into fresh windows and times keystroke → alert in the REST API.

    .venv/bin/python -m bench.agent.footprint [--idle-seconds 60] [--rounds 20]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from tests.conftest import Collector, free_port
from tests.desktop import start_desktop
from tests.e2e.test_walking_skeleton import RISK_PHRASE, Agent


def matches_seen(collector: Collector, token: str) -> int:
    """Repeats fold into one alert, so count matches, not alerts."""
    alerts = collector.get("/api/v1/alerts", token)
    assert isinstance(alerts, list)
    return sum(int(a["count"]) for a in alerts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lantern-bench-"))
    with start_desktop() as desktop:
        collector = Collector(
            var_dir=tmp / "collector",
            grpc=f"127.0.0.1:{free_port()}",
            http=f"127.0.0.1:{free_port()}",
            log_path=tmp / "collector.log",
            enrol=f"127.0.0.1:{free_port()}",
        )
        collector.start()
        agent = Agent(tmp / "agent", tmp / "agent.log", {**desktop.env, "XDG_DATA_HOME": str(tmp)})
        try:
            agent.cli(
                "enrol",
                "--collector",
                collector.grpc,
                "--enrol-address",
                collector.enrol,
                "--token",
                collector.enrolment_token(),
            )
            agent.start()
            token = collector.api_token("dsl")
            desktop.xterm("Idle window")
            time.sleep(3)  # let start-up settle before measuring idle cost
            assert agent.process is not None
            proc = psutil.Process(agent.process.pid)
            cpu_start = proc.cpu_times()
            wall_start = time.monotonic()
            rss: list[int] = []
            while time.monotonic() - wall_start < args.idle_seconds:
                rss.append(proc.memory_info().rss)
                time.sleep(1)
            cpu_end = proc.cpu_times()
            wall = time.monotonic() - wall_start
            cpu_s = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
            uss = proc.memory_full_info().uss
            print(
                f"agent idle over {wall:.0f} s: CPU {100 * cpu_s / wall:.2f}% of one core, "
                f"RSS median {statistics.median(rss) / 2**20:.1f} MiB max {max(rss) / 2**20:.1f} MiB, "
                f"USS {uss / 2**20:.1f} MiB, threads {proc.num_threads()}"
            )

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
            latencies.sort()
            print(
                f"keystroke-to-alert over {len(latencies)} rounds: "
                f"median {statistics.median(latencies) * 1000:.0f} ms, "
                f"worst {latencies[-1] * 1000:.0f} ms"
            )
        finally:
            agent.stop()
            collector.stop()


if __name__ == "__main__":
    main()
