"""Many collectors: `serve --role ingest` processes on one PostgreSQL database, sharing one port
or behind haproxy (mode tcp), with the load generator as its own process.

    python -m bench.ingest.many [--scenarios one,reuseport,haproxy,failover] [--duration 20]
                                [--agents 50] [--out DIR]

Scenarios (a fresh database each on a PostgreSQL server started here, fsync on; mutual TLS;
closed loop: 50 agents x 4 batches of 100 in flight; one `--role jobs` process beside them):
  one        one ingest process (the baseline)
  reuseport  two ingest processes on one gRPC/enrolment port (grpc core's SO_REUSEPORT)
  haproxy    two ingest processes on their own ports behind haproxy (mode tcp, leastconn)
  failover   as haproxy, and `kill -9` of one ingest process halfway through: the fleet
             reconnects through haproxy and re-sends what was not acked

Figures are printed and written to DIR/many.json; they are not assertions. On the 2-core reference
box every process shares the same cores, so two ingest processes cannot show a second core's worth.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.ingest.haproxy import Haproxy
from bench.ingest.procs import FLEET_ENV, Collector, PostgresServer
from bench.ingest.run import count_events, loadgen_command, run_loadgen_process


@dataclass
class Entry:
    """Where the load generator connects and enrols (a collector, or haproxy in front)."""

    grpc: str
    enrol: str


def _cpu(procs: list[Collector]) -> list[psutil.Process]:
    out = [psutil.Process(p.pid) for p in procs]
    for p in out:
        p.cpu_percent(None)
    return out


def _events_bytes(url: str) -> int:
    """The events table on disk with its indexes and TOAST (PostgreSQL)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_total_relation_size('events')")).scalar_one())
    finally:
        engine.dispose()


def scenario(name: str, work: Path, pg: PostgresServer, args: argparse.Namespace) -> dict[str, Any]:
    db = pg.create_database(f"many_{name}_{int(time.time())}")
    var = work / name
    n = 1 if name == "one" else 2
    first = Collector(var, db, role="ingest", log_path=work / f"{name}-ingest1.log", env=FLEET_ENV)
    ingest = [first]
    for i in range(2, n + 1):
        same = {"grpc": first.grpc, "enrol": first.enrol} if name == "reuseport" else {}
        ingest.append(
            Collector(
                var,
                db,
                role="ingest",
                log_path=work / f"{name}-ingest{i}.log",
                env=FLEET_ENV,
                **same,
            )
        )
    jobs = Collector(var, db, role="jobs", log_path=work / f"{name}-jobs.log", env=FLEET_ENV)
    token = jobs.enrolment_token(args.agents * 2)
    lb: Haproxy | None = None
    try:
        for p in [*ingest, jobs]:
            p.start()
        entry = Entry(first.grpc, first.enrol)
        if name in ("haproxy", "failover"):
            lb = Haproxy(
                work / f"{name}-haproxy", [p.grpc for p in ingest], [p.enrol for p in ingest]
            )
            lb.start()
            entry = Entry(lb.connect, lb.enrol)
        cmd = loadgen_command(
            entry, token, agents=args.agents, rate=0, duration=args.duration, ramp=2, drain=20
        )
        cpu = _cpu(ingest)
        streams: list[int] = []
        killed: dict[str, Any] = {}

        def during() -> None:
            time.sleep(min(8.0, args.duration / 2))
            streams.extend(p.established(p.grpc) for p in ingest)
            if name == "failover":
                killed["at_s"] = round(time.monotonic() - started, 1)
                ingest[0].kill()

        started = time.monotonic()
        result, sampler, _ = run_loadgen_process(cmd, first, during=during)
        cpu_pct = [round(c.cpu_percent(None), 1) for c in cpu[1:]]  # mean since _cpu()
        rows, distinct = count_events(db)
        size = _events_bytes(db)
    finally:
        if lb is not None:
            lb.stop()
        for p in [*ingest, jobs]:
            p.stop()
    return {
        "scenario": name,
        "ingest_processes": n,
        "events_per_s": result.get("events_per_s"),
        "ack_ms": result.get("ack_ms"),
        "errors": result.get("errors"),
        "duplicates": result.get("duplicates"),
        "acked": result.get("events_acked"),
        "reconnects": result.get("reconnects"),
        "unacked_at_end": result.get("unacked_at_end"),
        "timeline": result.get("timeline") if name == "failover" else None,
        "stored_rows": rows,
        "stored_distinct": distinct,
        "events_bytes_per_row": round(size / rows) if rows else None,
        "streams_per_process": streams,
        "killed": killed or None,
        "ingest1_cpu_pct": sampler.mean_cpu("collector"),
        "other_ingest_cpu_pct": cpu_pct,
        "load_avg": round(psutil.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="one,reuseport,haproxy,failover")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lantern-many-"))
    pg = PostgresServer(fsync=True)
    pg.start()
    results = []
    try:
        for name in args.scenarios.split(","):
            r = scenario(name, work, pg, args)
            print(json.dumps(r), flush=True)
            results.append(r)
    finally:
        pg.destroy()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "many.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
