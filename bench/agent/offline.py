"""Offline resilience: N events spooled while the collector is away arrive exactly once after
reconnect, even when the agent is killed with SIGKILL mid-send several times.

    .venv/bin/python -m bench.agent.offline [--events 100000] [--kills 3]

Uses the agent's real spool, sender and mutual-TLS transport (agent.drain) against a real
collector process, and counts the collector's stored events by sequence number.
"""

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.enrol import enrol
from agent.spool import Spool
from lantern.v1 import lantern_pb2 as pb
from tests.conftest import Collector, collector_in


def fill(state_dir: Path, events: int) -> float:
    spool = Spool(state_dir, "student1")
    started = time.perf_counter()
    for i in range(events):
        event = pb.Event()
        event.window_focus.CopyFrom(
            pb.WindowFocus(app="chromium", title=f"GCSE revision notes page {i} - Chromium")
        )
        spool.append(event)
    elapsed = time.perf_counter() - started
    spool.close()
    return elapsed


def stored(collector: Collector) -> tuple[int, int, int]:
    with sqlite3.connect(collector.var_dir / "lantern.db") as db:
        total, distinct, top = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM events"
        ).fetchone()
    return int(total), int(distinct), int(top or 0)


def run(events: int, kills: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="lantern-offline-"))
    collector = collector_in(tmp)
    collector.start()
    state = tmp / "agent"
    try:
        enrol(state, collector.grpc, collector.enrolment_token(), enrol_address=collector.enrol)
        spool_s = fill(state, events)
        started = time.perf_counter()
        for _ in range(kills):
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent.drain", str(state)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(random.uniform(0.5, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        subprocess.run(
            [sys.executable, "-m", "agent.drain", str(state)],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=600,
        )
        send_s = time.perf_counter() - started
        total, distinct, top = stored(collector)
    finally:
        collector.stop()
    return {
        "events": events,
        "kills": kills,
        "spool_s": spool_s,
        "send_s": send_s,
        "stored": total,
        "distinct_seq": distinct,
        "max_seq": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    r = run(args.events, args.kills)
    # The first event of the spool is seq 1; an AgentState is not written by drain, so seq == i+1.
    exact = r["stored"] == r["distinct_seq"] == r["max_seq"] == args.events
    print(
        f"spooled {args.events} events offline in {r['spool_s']:.1f} s "
        f"({args.events / r['spool_s']:.0f}/s); sent with {args.kills} SIGKILLs mid-send in "
        f"{r['send_s']:.1f} s; stored {r['stored']} (distinct seq {r['distinct_seq']}, "
        f"max seq {r['max_seq']}): {'exactly once' if exact else 'MISMATCH'}"
    )
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
