"""Event builders and a stand-in title detector for trigger tests."""

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from collector.store.interface import EventRow
from lantern.detection import Hit
from lantern.ids import uuid7_str

# A Wednesday, 11:00 in London (working hours, term time).
T0 = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
_seq = count(1)


def match(
    device: str = "dev-1",
    user: str = "s1",
    *,
    category: str = "suicide",
    severity: int = 4,
    rule: str = "suicide.kms",
    at: datetime = T0,
    source: str = "typed",
    app: str = "Chromium",
    **extra: Any,
) -> EventRow:
    return EventRow(
        event_id=uuid7_str(),
        device_id=device,
        seq=next(_seq),
        kind="risk_match",
        observed_at=at,
        received_at=at,
        os_user=user,
        app=app,
        title="Essay - Docs",
        detail={
            "category": category,
            "severity": severity,
            "rule": rule,
            "matched": "kms",
            "snippet": "i want to kms tonight",
            "source": source,
            "process": "chromium",
            "lexicon_version": "t",
            **extra,
        },
    )


def focus(
    device: str = "dev-1",
    user: str = "s1",
    *,
    title: str = "",
    url: str = "",
    app: str = "Chromium",
    at: datetime = T0,
) -> EventRow:
    return EventRow(
        event_id=uuid7_str(),
        device_id=device,
        seq=next(_seq),
        kind="window_focus",
        observed_at=at,
        received_at=at,
        os_user=user,
        app=app,
        title=title,
        detail={
            "process": app.lower(),
            "pid": 1,
            "browser": "chromium",
            "page_title": title,
            "url": url,
            "private_window": False,
        },
    )


class KeywordDetector:
    """Detection stand-in: a title containing a keyword is a hit (category, severity)."""

    def __init__(self, words: dict[str, tuple[str, int]]) -> None:
        self.words = words
        self.calls = 0

    def scan(self, text: str, source: str = "typed") -> list[Hit]:
        self.calls += 1
        hits = []
        for word, (category, severity) in self.words.items():
            i = text.lower().find(word)
            if i >= 0:
                hits.append(
                    Hit(
                        category,
                        severity,
                        f"{category}.{word}",
                        word,
                        text[:80],
                        i,
                        i + len(word),
                        source,
                        severity,
                    )
                )
        return hits


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
