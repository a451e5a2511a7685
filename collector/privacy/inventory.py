"""The data inventory (inventory.yaml) and the markdown DPOs read (docs/privacy.md)."""

from pathlib import Path
from typing import Any

import yaml

INVENTORY = Path(__file__).with_name("inventory.yaml")


def load() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = yaml.safe_load(INVENTORY.read_text())
    return data


def listed_columns(entry: dict[str, Any]) -> set[str]:
    return set(entry.get("personal", {})) | set(entry.get("other", []))


def render_markdown() -> str:
    """docs/privacy.md: every personal field, its purpose, who sees it, how long it is kept."""
    from collector.retention import RETENTION_DAYS

    lines = [
        "# Privacy: what Lantern holds, why, who sees it, how long",
        "",
        "Generated from `collector/privacy/inventory.yaml` by `lantern-collector privacy inventory`;",
        "a test fails if the database has a table or column this page does not list.",
        "",
        "On the device: typed text is matched in memory and never written to disk, logged or sent;",
        "only a structured match (category, severity, rule, matched phrase, a snippet of at most 80",
        "characters) leaves it. Trustees see aggregates only, with counts under 5 suppressed.",
        "",
        "## Retention periods (days, `collector/retention.py`)",
        "",
        "| class | days |",
        "|---|---|",
        *[f"| {name} | {days} |" for name, days in RETENTION_DAYS.items()],
        "",
        "## Personal data by table",
        "",
    ]
    for table, entry in sorted(load().items()):
        personal = entry.get("personal", {})
        lines += [f"### `{table}`", "", f"{entry['about']}. Kept: {entry['retention']}.", ""]
        if not personal:
            lines += ["No personal fields.", ""]
            continue
        lines += ["| field | purpose | who can see it |", "|---|---|---|"]
        for column, info in personal.items():
            lines.append(f"| `{column}` | {info['purpose']} | {', '.join(info['who'])} |")
        lines.append("")
    return "\n".join(lines)
