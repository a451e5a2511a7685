"""`lantern-agent status`: what is monitored and how the link is, from the state directory.

The running agent writes status.json when it changes (at most every 5 s) and once a minute; it holds no typed text and no titles.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

from agent.identity import Identity

STATUS_FILE = "status.json"
# The running agent rewrites the file on every change and at least once a minute (keep-alive).
RUNNING_WITHIN_S = 150.0


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    path = state_dir / STATUS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_status(state_dir: Path) -> dict[str, Any]:
    identity = Identity.load(state_dir)
    result: dict[str, Any] = {
        "state_dir": str(state_dir),
        "enrolled": identity is not None,
        "collector": identity.collector if identity else None,
        "device_id": identity.device_id if identity else None,
    }
    path = state_dir / STATUS_FILE
    if path.exists():
        running = json.loads(path.read_text())
        age = time.time() - float(running.get("written_at", 0))
        running["running"] = age < RUNNING_WITHIN_S and _pid_alive(int(running.get("pid", 0)))
        result.update(running)
    else:
        result["running"] = False
    return result


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def format_status(status: dict[str, Any]) -> str:
    lines = [
        f"enrolled:        {'yes' if status['enrolled'] else 'no'}",
        f"collector:       {status.get('collector') or '-'}",
        f"device id:       {status.get('device_id') or '-'}",
        f"agent running:   {'yes' if status.get('running') else 'no'}",
    ]
    if "connected" in status:
        last_ack = status.get("last_ack_at")
        oldest = status.get("spool_oldest_at")
        lines += [
            f"connected:       {'yes' if status['connected'] else 'no'}"
            + (
                f" ({status['last_error']})"
                if status.get("last_error") and not status["connected"]
                else ""
            ),
            f"last ack:        {_ago(last_ack)}",
            f"spool depth:     {status.get('spool_depth', 0)} (oldest {_ago(oldest)})",
            f"policy version:  {status.get('policy_version', 0)}",
            "capabilities:    "
            + ", ".join(f"{k}: {v}" for k, v in sorted(status.get("capabilities", {}).items())),
            "monitoring:      "
            + ("window titles" if status.get("capture_titles", True) else "no window titles")
            + ", "
            + (
                "typed risk terms (matched on this device; typed text never leaves it)"
                if status.get("capture_typed", True)
                else "no typed text"
            ),
        ]
    return "\n".join(lines)


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    return f"{time.time() - ts:.0f}s ago"
