"""Ingest benchmark: a real collector and the load generator as separate processes on one machine.

    python -m bench.ingest.run [--scenarios sqlite,postgres,streams] [--duration 30]
                               [--agents 50] [--stream-agents 10000] [--profile] [--out DIR]

Scenarios (each against a fresh collector with mutual TLS, the production default):
  sqlite    sustained events/s into the embedded SQLite database (closed loop: as fast as acks come)
  postgres  the same into a real PostgreSQL server started here (fsync on)
  streams   connection scale: N concurrent agent streams, heartbeats, 1 event/10 s per agent;
            collector RSS, connect and ack latency, heartbeats recorded on time
  storm     morning login storm: N agents connecting within 60 s
  latency   1,000 agents x 1 event/s (open loop): ack latency = event -> stored -> alert raised,
            since alerts commit in the same transaction as the events that raise them

Both processes share the machine's cores (2 on the reference box). Figures are printed, written to
DIR/results.json, and are not assertions. `--profile` samples the collector with py-spy
(`pip install py-spy`) and prints where its CPU goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.ingest.procs import FLEET_ENV, Collector, PostgresServer
from bench.ingest.profile import Profile, record
from collector.store import open_store
from collector.web import policy as editor

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Sampler:
    """CPU and RSS of the collector (and the load generator) sampled once a second."""

    pids: dict[str, int]
    # Processes whose children count too (PostgreSQL: the postmaster and its backends).
    trees: dict[str, int] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        procs = {}
        for name, pid in self.pids.items():
            try:
                procs[name] = psutil.Process(pid)
                procs[name].cpu_percent()
            except psutil.Error:
                pass
        tree_procs: dict[str, dict[int, psutil.Process]] = {name: {} for name in self.trees}
        while not self._stop.wait(1.0):
            for name, pid in self.trees.items():
                try:
                    members = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
                except psutil.Error:
                    continue
                total = 0.0
                for member in members:
                    known = tree_procs[name].setdefault(member.pid, member)
                    try:
                        total += known.cpu_percent()
                    except psutil.Error:
                        pass
                self.cpu.setdefault(name, []).append(total)
            for name, p in procs.items():
                try:
                    cpu = p.cpu_percent()
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                self.cpu.setdefault(name, []).append(cpu)
                self.rss.setdefault(name, []).append(rss)
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def collectors_cpu(self, skip: int = 3) -> float:
        """Every collector process together (% of one core)."""
        names = [n for n in self.pids if n == "collector" or n.startswith("collector_")]
        return round(sum(self.mean_cpu(n, skip) for n in names), 1)

    def mean_cpu(self, name: str, skip: int = 3) -> float:
        values = self.cpu.get(name, [])[skip:-1] or self.cpu.get(name, [])
        return round(sum(values) / len(values), 1) if values else 0.0


def loadgen_command(c: Collector, token: str, **kw: Any) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "collector.loadgen",
        "--collector",
        c.grpc,
        "--enrol",
        c.enrol,
        "--token",
        token,
        "--quiet",
    ]
    for key, value in kw.items():
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def run_loadgen_process(
    cmd: list[str],
    collector: Collector,
    *,
    profile_after: float | None = None,
    profile_for: float = 15.0,
    profile_out: Path | None = None,
    during: Callable[[], None] | None = None,
    trees: dict[str, int] | None = None,
    gil: bool = True,
    others: list[Collector] | None = None,
) -> tuple[dict[str, Any], Sampler, Profile | None]:
    """Run the load generator as its own process; sample both processes; optionally profile.
    `others`: more collector processes (sampled as collector_2, …; the profile is of the first)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    pids = {"collector": collector.pid, "loadgen": proc.pid}
    pids |= {f"collector_{k}": c.pid for k, c in enumerate(others or [], start=2)}
    sampler = Sampler(pids, trees or {})
    sampler.start()
    prof = None
    if profile_after is not None and profile_out is not None:
        time.sleep(profile_after)
        if record(collector.pid, profile_for, profile_out, rate=200, gil=gil, idle=not gil):
            prof = Profile.load(profile_out)
    if during is not None:
        during()
    out, err = proc.communicate()
    sampler.stop()
    lines = out.strip().splitlines()
    if proc.returncode not in (0, 1) or not lines:
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {err[-3000:]}")
    return json.loads(lines[-1])["loadgen"], sampler, prof


def count_events(url: str) -> tuple[int, int]:
    """(rows, distinct event ids) in the events table."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows, distinct = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events")
        ).one()
    engine.dispose()
    return int(rows), int(distinct)


def heartbeats_on_time(url: str, within_s: float) -> tuple[int, int]:
    """(devices seen within the last `within_s` seconds, devices)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    since = (datetime.now(UTC) - timedelta(seconds=within_s)).replace(tzinfo=None)
    with engine.connect() as conn:
        fresh = conn.execute(
            text("SELECT COUNT(*) FROM devices WHERE last_seen_at >= :s"), {"s": since}
        ).scalar_one()
        total = conn.execute(text("SELECT COUNT(*) FROM devices")).scalar_one()
    engine.dispose()
    return int(fresh), int(total)


# ---------------------------------------------------------------- scenarios


def throughput(
    name: str, work: Path, args: argparse.Namespace, pg: PostgresServer | None
) -> dict[str, Any]:
    """Closed loop into one collector process, or (`--collectors N`) into N `serve --role
    ingest` processes sharing the gRPC and enrolment ports (SO_REUSEPORT) beside one `--role
    jobs` process, all on the same database."""
    db = pg.create_database(f"bench_{int(time.time())}") if pg else None
    var = work / name
    log = work / f"{name}.log"
    n = args.collectors
    if n == 1:
        procs = [Collector(var, db, log_path=log, env=FLEET_ENV)]
    else:
        first = Collector(var, db, log_path=log, role="ingest", env=FLEET_ENV)
        procs = [first] + [
            Collector(
                var,
                db,
                env=FLEET_ENV,
                log_path=work / f"{name}-{k}.log",
                role="ingest",
                grpc=first.grpc,
                enrol=first.enrol,
            )
            for k in range(2, n + 1)
        ]
        procs.append(
            Collector(var, db, log_path=work / f"{name}-jobs.log", role="jobs", env=FLEET_ENV)
        )
    c = procs[0]
    url = db or f"sqlite:///{(var / 'lantern.db').resolve()}"
    token = c.enrolment_token(args.agents + 10)  # creates the schema and the CA once
    try:
        for p in procs:
            p.start()
        cmd = loadgen_command(
            c, token, agents=args.agents, rate=0, duration=args.duration, batch=args.batch
        )
        result, sampler, prof = run_loadgen_process(
            cmd,
            c,
            profile_after=min(8.0, args.duration / 3) if args.profile else None,
            profile_for=min(15.0, args.duration / 2),
            profile_out=work / f"{name}-profile.txt",
            trees={"postgres": pid} if pg and (pid := pg.postmaster_pid()) else None,
            gil=args.profile != "wall",
            others=procs[1:],
        )
        rows, distinct = count_events(url)
    finally:
        for p in procs:
            p.stop()
    out = {
        "scenario": name,
        "collectors": n,
        "events_per_s": result["events_per_s"],
        "ack_ms": result["ack_ms"],
        "agents": result["agents_connected"],
        "events_acked": result["events_acked"],
        "events_in_db": rows,
        "distinct_event_ids": distinct,
        "exactly_once": rows == distinct == result["events_acked"],
        "errors": result["errors"],
        "error_kinds": result["error_kinds"],
        "collector_cpu_pct": sampler.collectors_cpu(),
        "collector_cpu_pct_each": [
            sampler.mean_cpu(k) for k in sampler.pids if k.startswith("collector")
        ],
        "loadgen_cpu_pct": sampler.mean_cpu("loadgen"),
        "postgres_cpu_pct": sampler.mean_cpu("postgres") if pg else None,
        "machine_load_after": round(os.getloadavg()[0], 1),
        "collector_peak_rss_mb": round(sampler.peak_rss.get("collector", 0) / 2**20, 1),
        "timeline": result["timeline"],
    }
    if prof is not None:
        out["profile"] = profile_summary(prof)
        print(prof.report(30), file=sys.stderr)
    return out


PROFILE_BUCKETS = {
    "store.ingest_many (group commit, writer thread)": "SqlStore.ingest_many (",
    "SQLAlchemy execute (compile, bind processors)": "Connection.execute (",
    "triggers: title scans outside the lock": "TriggerEngine.prepare (",
    "triggers: rules over new rows": "TriggerEngine.evaluate (",
    "detection Engine.scan": "Engine.scan (",
    "alerts raise/fold": "raise_candidates (",
    "wire: convert_batch": "convert_batch (",
    "event loop (gRPC handlers, asyncio)": "BaseEventLoop._run_once",
    "heartbeat writes": "record_heartbeat (",
    "authenticate_device": "authenticate_device (",
}


def profile_summary(prof: Profile) -> dict[str, float]:
    return {k: round(100 * prof.share(v), 1) for k, v in PROFILE_BUCKETS.items()}


def streams(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Connection scale: many concurrent streams, heartbeats, a trickle of events."""
    n = args.stream_agents
    c = Collector(work / name, log_path=work / f"{name}.log", env=FLEET_ENV)
    c.start()
    url = f"sqlite:///{(work / name / 'lantern.db').resolve()}"
    heartbeat = 30
    hold = args.stream_hold
    ramp = args.stream_ramp
    try:
        token = c.enrolment_token(n + 10)
        ids = work / f"{name}-identities.json"
        # Enrol first (its own run): the measured run then only connects and streams.
        t0 = time.monotonic()
        enrol_cmd = loadgen_command(
            c, token, agents=n, rate=n / 10, duration=1, identities=ids, drain=5
        )
        subprocess.run(enrol_cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        enrol_s = time.monotonic() - t0
        cmd = loadgen_command(
            c,
            token,
            agents=n,
            rate=n / 10,
            duration=hold,
            ramp=ramp,
            identities=ids,
            heartbeat=heartbeat,
            drain=30,
        )
        checks: dict[str, Any] = {}

        def during() -> None:
            # Once everyone is connected and has had a heartbeat interval, check last-seen.
            time.sleep(ramp + heartbeat + 10)
            checks["fresh"], checks["devices"] = heartbeats_on_time(url, heartbeat + 5)
            try:
                checks["collector_rss_mb_connected"] = round(
                    psutil.Process(c.pid).memory_info().rss / 2**20, 1
                )
                checks["collector_fds"] = psutil.Process(c.pid).num_fds()
            except psutil.Error:
                pass
            if args.stream_policy_edit:
                # An IT edit while everyone is connected, one that changes every device's
                # policy (the console's notice text, written as the console writes it): each
                # process marks its cached policies stale and pushes the new one to every agent.
                edits = open_store(url)
                try:
                    notice = "This college laptop is monitored for safeguarding (bench edit)."
                    editor.set_notice_text(edits, "bench", notice, "bench: a fleet-wide edit")
                finally:
                    edits.close()
                time.sleep(heartbeat + 10)
                checks["fresh_after_edit"], _ = heartbeats_on_time(url, heartbeat + 5)
                stale = re.findall(r"(\d+) cached policies to refresh", c.log_tail(200_000))
                checks["policies_stale"] = int(stale[-1]) if stale else 0

        result, sampler, _ = run_loadgen_process(cmd, c, during=during)
    finally:
        c.stop()
    return {
        "scenario": name,
        "agents": n,
        "agents_connected": result["agents_connected"],
        "enrol_s": round(enrol_s, 1),
        "ramp_s": ramp,
        "hold_s": hold,
        "connect_ms": result["connect_ms"],
        "ack_ms": result["ack_ms"],
        "heartbeats_sent": result["heartbeats"],
        "devices_seen_within_35s": checks.get("fresh"),
        "devices_seen_within_35s_after_policy_edit": checks.get("fresh_after_edit"),
        "policies_stale_after_edit": checks.get("policies_stale"),
        "policy_updates_pushed": result.get("policy_updates"),
        "policy_update_span_s": result.get("policy_update_span_s"),
        "devices": checks.get("devices"),
        "errors": result["errors"],
        "error_kinds": result["error_kinds"],
        "collector_peak_rss_mb": round(sampler.peak_rss.get("collector", 0) / 2**20, 1),
        "collector_rss_mb_connected": checks.get("collector_rss_mb_connected"),
        "collector_fds": checks.get("collector_fds"),
        "loadgen_peak_rss_mb": round(sampler.peak_rss.get("loadgen", 0) / 2**20, 1),
        "collector_cpu_pct": sampler.mean_cpu("collector"),
        "loadgen_cpu_pct": sampler.mean_cpu("loadgen"),
        "events_acked": result["events_acked"],
    }


def storm(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Morning login storm: N enrolled agents all connect within 60 s, each sends a batch."""
    n = args.storm_agents
    c = Collector(work / name, log_path=work / f"{name}.log", env=FLEET_ENV)
    c.start()
    try:
        token = c.enrolment_token(n + 10)
        ids = work / f"{name}-identities.json"
        subprocess.run(
            loadgen_command(c, token, agents=n, rate=n, duration=1, identities=ids, drain=5),
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        c.stop()
        c.start()  # fresh process: every stream is a new connection, no warm pools
        cmd = loadgen_command(
            c, token, agents=n, rate=n / 5, duration=20, ramp=60, identities=ids, drain=30
        )
        result, sampler, _ = run_loadgen_process(cmd, c)
    finally:
        c.stop()
    return {
        "scenario": name,
        "agents": n,
        "agents_connected": result["agents_connected"],
        "connect_ms": result["connect_ms"],
        "ack_ms": result["ack_ms"],
        "errors": result["errors"],
        "error_kinds": result["error_kinds"],
        "collector_peak_rss_mb": round(sampler.peak_rss.get("collector", 0) / 2**20, 1),
        "collector_cpu_pct": sampler.mean_cpu("collector", skip=0),
    }


def latency(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Event -> alert: 1,000 agents at 1 event/s each; an alert is committed with its events,
    so the ack latency bounds the time from an event leaving the agent to its alert existing."""
    n = args.latency_agents
    c = Collector(work / name, log_path=work / f"{name}.log", env=FLEET_ENV)
    c.start()
    url = f"sqlite:///{(work / name / 'lantern.db').resolve()}"
    try:
        token = c.enrolment_token(n + 10)
        cmd = loadgen_command(c, token, agents=n, rate=n, duration=args.duration, ramp=10, drain=30)
        result, sampler, _ = run_loadgen_process(cmd, c)
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            alerts = conn.execute(text("SELECT COUNT(*) FROM alerts")).scalar_one()
        engine.dispose()
    finally:
        c.stop()
    return {
        "scenario": name,
        "agents": n,
        "agents_connected": result["agents_connected"],
        "events_per_s": result["events_per_s"],
        "ack_ms": result["ack_ms"],
        "alerts_in_db": alerts,
        "errors": result["errors"],
        "error_kinds": result["error_kinds"],
        "collector_cpu_pct": sampler.mean_cpu("collector"),
        "loadgen_cpu_pct": sampler.mean_cpu("loadgen"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="sqlite,postgres,streams")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="sqlite/postgres: this many `serve --role ingest` processes on one port (+ jobs)",
    )
    parser.add_argument("--stream-agents", type=int, default=10_000)
    parser.add_argument("--stream-ramp", type=float, default=60.0)
    parser.add_argument("--stream-hold", type=float, default=90.0)
    parser.add_argument(
        "--stream-policy-edit",
        action="store_true",
        help="streams: a fleet-wide policy edit (the console's notice text) once all are "
        "connected, heartbeats checked again one interval later (give --stream-hold 150 or more)",
    )
    parser.add_argument("--storm-agents", type=int, default=5_000)
    parser.add_argument("--latency-agents", type=int, default=1_000)
    parser.add_argument(
        "--profile",
        nargs="?",
        const="gil",
        choices=("gil", "wall"),
        help="py-spy the collector: `gil` (default) samples the thread holding the GIL (where "
        "Python CPU goes); `wall` samples every thread, idle ones too (who waits for what)",
    )
    parser.add_argument("--pg-fsync", choices=("on", "off"), default="on")
    parser.add_argument("--out", type=Path, help="keep logs, profiles and results here")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="lantern-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, load before: {os.getloadavg()}, work dir {work}")
    results = []
    for scenario in args.scenarios.split(","):
        print(f"== {scenario}", flush=True)
        pg = None
        try:
            if scenario == "postgres":
                pg = PostgresServer(fsync=args.pg_fsync == "on")
                pg.start()
                r = throughput(scenario, work, args, pg)
            elif scenario == "sqlite":
                r = throughput(scenario, work, args, None)
            elif scenario == "streams":
                r = streams(scenario, work, args)
            elif scenario == "storm":
                r = storm(scenario, work, args)
            elif scenario == "latency":
                r = latency(scenario, work, args)
            else:
                raise SystemExit(f"unknown scenario {scenario}")
        finally:
            if pg is not None:
                pg.destroy()
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
