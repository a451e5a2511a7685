"""`serve --metrics`: a real collector exposes Prometheus metrics on their own port (how ingest
and jobs processes, which have no web server, are scraped)."""

import urllib.request
from pathlib import Path

from tests.conftest import collector_in, free_port


def test_a_collector_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    collector = collector_in(tmp_path, env={"LANTERN_METRICS": address})
    collector.start()
    try:
        collector.enrolment_token()
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        collector.stop()
    assert 'lantern_devices{state="never_connected"} 0.0' in text
    assert "lantern_ingest_streams 0.0" in text
    assert "process_cpu_seconds_total" in text
