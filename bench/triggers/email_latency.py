"""Alert → email accepted by the SMTP server (target p99 ≤ 1 s).

A real aiosmtpd server, a SQLite store, and the collector's alert jobs running as in
`lantern-collector serve` (outbox dispatcher polling every 250 ms). Severity 5 alerts are raised
through `SqlStore.ingest` at a steady rate on separate devices; the latency is from the ingest
commit to the SMTP server accepting the message (its DATA handler).

    .venv/bin/python -m bench.triggers.email_latency [--alerts 200] [--rate 10]
"""

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

from collector.alerts.config import AlertsConfig, Contact, SmtpConfig
from collector.alerts.jobs import AlertJobs
from collector.clock import utcnow
from collector.store import open_store
from collector.store.interface import DeviceRegistration, EventRow
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules
from lantern.ids import uuid7_str
from tests.collector.alerts.receivers import smtp_server


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def run(n: int, rate: float) -> None:
    store = open_store(f"sqlite:///{Path(tempfile.mkdtemp()) / 'lantern.db'}")
    store.add_enrolment_token("b", "Year 10", None, None)
    devices = [
        store.enrol_device(
            "b", DeviceRegistration(f"i{i}", f"L{i}", "", "", "", ""), "h", utcnow()
        ).id
        for i in range(n)
    ]
    rules = load_rules()
    triggers = TriggerEngine(None, 3, rules)
    committed: dict[int, float] = {}
    with smtp_server() as (box, port):
        config = AlertsConfig(
            smtp=SmtpConfig(host="127.0.0.1", port=port, sender="lantern@bench.example"),
            channels=[Contact(name="dsl", email="dsl@bench.example", min_severity=5)],
        )
        jobs = AlertJobs(store, rules, config)
        runner = asyncio.ensure_future(jobs.run())
        await asyncio.sleep(0.5)
        for i, dev in enumerate(devices):
            now = utcnow()
            row = EventRow(
                uuid7_str(),
                dev,
                1,
                "risk_match",
                now,
                now,
                "s1",
                "chromium",
                "x",
                {
                    "category": "suicide",
                    "severity": 5,
                    "rule": "suicide.kms",
                    "matched": "kms",
                    "snippet": "x",
                    "source": "typed",
                },
            )
            await asyncio.to_thread(store.ingest, dev, [row], triggers)
            committed[i + 1] = time.perf_counter()  # alert ids are 1..n in order
            await asyncio.sleep(1 / rate)
        deadline = time.perf_counter() + 30
        while len(box.messages) < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    latencies = []
    for msg, accepted in zip(box.messages, box.received_at, strict=True):
        m = re.search(r"#(\d+)", str(msg["Subject"]))
        assert m is not None
        latencies.append((accepted - committed[int(m.group(1))]) * 1000)
    print(
        f"{len(latencies)} of {n} severity 5 alerts emailed ({rate}/s); "
        f"alert committed → SMTP accepted: p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {pct(latencies, 99):.0f} ms, max {max(latencies):.0f} ms"
    )
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0)
    args = ap.parse_args()
    asyncio.run(run(args.alerts, args.rate))


if __name__ == "__main__":
    main()
