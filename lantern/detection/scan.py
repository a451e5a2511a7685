"""The offline scan protocol behind ``lantern-collector scan``.

JSON Lines in: ``{"id": ..., "text": ..., "source": "typed" | "title"}``; one line out per input:
``{"id": ..., "hits": [{"category", "severity", "rule", "matched", "base_severity", "reasons"}]}``
(hits with severity ≥ 1 only). A malformed line gets ``{"id": null, "error": ...}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from lantern.detection.engine import Engine


def scan_record(record: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """The output object for one input object."""
    source = record.get("source") or "typed"
    if source not in ("typed", "title"):
        source = "typed"
    text = record.get("text") or ""
    hits = engine.scan(str(text), source)
    return {
        "id": record.get("id"),
        "hits": [
            {
                "category": h.category,
                "severity": h.severity,
                "rule": h.rule,
                "matched": h.matched,
                "base_severity": h.base_severity,
                "reasons": list(h.reasons),
            }
            for h in hits
            if h.severity >= 1
        ],
    }


def scan_lines(stdin: TextIO, stdout: TextIO, engine: Engine) -> int:
    """Scan every JSON line of ``stdin``, write one JSON line per input to ``stdout``.

    Returns the number of lines that could not be parsed.
    """
    errors = 0
    for line in stdin:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            errors += 1
            out: dict[str, Any] = {"id": None, "error": f"bad input line: {exc}"[:200]}
        else:
            out = scan_record(record, engine)
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    stdout.flush()
    return errors
