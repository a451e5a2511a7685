"""The structured match that leaves the detection engine (and, for typed text, the device)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_MATCHED = 64
MAX_SNIPPET = 80


@dataclass(frozen=True, slots=True)
class Hit:
    """One lexicon match after context.

    ``severity`` is 1–5 after context (alert threshold 3); 0 means cancelled by context, and such
    hits are only returned when asked for. ``matched`` (≤ 64 chars) and ``snippet`` (≤ 80 chars)
    are the only pieces of the scanned text a hit carries.
    """

    category: str
    severity: int
    rule: str
    matched: str
    snippet: str
    start: int
    end: int
    source: str
    base_severity: int
    reasons: tuple[str, ...] = ()


def bounded_matched(text: str, start: int, end: int) -> str:
    """The matched text with whitespace collapsed, at most ``MAX_MATCHED`` characters."""
    return " ".join(text[start:end].split())[:MAX_MATCHED]


def bounded_snippet(text: str, start: int, end: int) -> str:
    """Up to ``MAX_SNIPPET`` characters of context centred on ``[start, end)``."""
    span = min(end - start, MAX_MATCHED)
    room = max(0, MAX_SNIPPET - span) // 2
    a = max(0, start - room)
    b = min(len(text), start + span + room)
    snippet = " ".join(text[a:b].split())
    return snippet[:MAX_SNIPPET]
