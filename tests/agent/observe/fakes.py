"""Test doubles for the observer: a tiny detection engine, a sink, a scripted platform."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.platform.base import OK, WindowCallback, WindowInfo
from lantern.v1 import lantern_pb2 as pb

# phrase -> (category, severity)
LEXICON = {
    "kill myself": ("suicide", 5),
    "hate you": ("bullying", 3),
    "mild thing": ("offensive", 1),
}


@dataclass
class FakeHit:
    category: str
    severity: int
    rule: str
    matched: str
    snippet: str
    start: int
    end: int
    source: str
    base_severity: int = 0
    reasons: tuple[str, ...] = ()


def find_hits(text: str, source: str) -> list[FakeHit]:
    hits = []
    lower = text.lower()
    for phrase, (category, severity) in LEXICON.items():
        at = lower.find(phrase)
        while at >= 0:
            end = at + len(phrase)
            hits.append(
                FakeHit(
                    category,
                    severity,
                    f"{category}.{phrase.replace(' ', '_')}",
                    text[at:end],
                    text[max(0, at - 20) : end + 20],
                    at,
                    end,
                    source,
                )
            )
            at = lower.find(phrase, end)
    return hits


class FakeScanner:
    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.calls = 0

    def update(self, buffer: str) -> Sequence[FakeHit]:
        self.calls += 1
        new = []
        for hit in find_hits(buffer, "typed"):
            if (hit.rule, hit.start) not in self.seen:
                self.seen.add((hit.rule, hit.start))
                new.append(hit)
        return new

    def reset(self) -> None:
        self.seen.clear()


class BoundaryScanner(FakeScanner):
    """Like the real scanner: a phrase at the very end only completes at a word boundary."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = ""

    def update(self, buffer: str) -> Sequence[FakeHit]:
        self.buffer = buffer
        return self._new(buffer, complete=not buffer[-1:].isalnum())

    def flush(self) -> Sequence[FakeHit]:
        return self._new(self.buffer, complete=True)

    def _new(self, buffer: str, complete: bool) -> list[FakeHit]:
        new = []
        for hit in find_hits(buffer, "typed"):
            if hit.end == len(buffer) and not complete:
                continue
            if (hit.rule, hit.start) not in self.seen:
                self.seen.add((hit.rule, hit.start))
                new.append(hit)
        return new


class FakeEngine:
    version = "fake-1"

    def __init__(self, *, boundaries: bool = False) -> None:
        self.boundaries = boundaries

    def scan(self, text: str, source: str) -> Sequence[FakeHit]:
        return find_hits(text, source)

    def incremental(self) -> FakeScanner:
        return BoundaryScanner() if self.boundaries else FakeScanner()


@dataclass
class ListSink:
    events: list[pb.Event] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def emit(self, event: pb.Event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of_kind(self, kind: str) -> list[pb.Event]:
        with self.cond:
            return [e for e in self.events if e.WhichOneof("kind") == kind]

    def wait_for(self, predicate, timeout: float = 2.0) -> pb.Event | None:  # type: ignore[no-untyped-def]
        """The first event matching ``predicate`` (waiting up to ``timeout``)."""
        with self.cond:
            found: list[pb.Event] = []

            def check() -> bool:
                found[:] = [e for e in self.events if predicate(e)]
                return bool(found)

            self.cond.wait_for(check, timeout)
            return found[0] if found else None


class ScriptedWindows:
    """A WindowSource the test drives by calling :meth:`focus`."""

    def __init__(self) -> None:
        self.on_change: WindowCallback | None = None

    def start(self, on_change: WindowCallback) -> None:
        self.on_change = on_change

    def stop(self, timeout: float = 2.0) -> None:
        self.on_change = None

    def status(self) -> str:
        return OK if self.on_change else "unavailable: stopped"

    def focus(self, info: WindowInfo | None) -> None:
        assert self.on_change is not None
        self.on_change(info)


class ScriptedBackend:
    name = "scripted"

    def __init__(self, keyboard: str = "unavailable: scripted") -> None:
        self.windows = ScriptedWindows()
        self._keyboard = keyboard

    def window_source(self) -> ScriptedWindows:
        return self.windows

    def windows_status(self) -> str:
        return OK

    def keyboard_status(self) -> str:
        return self._keyboard

    def prepare_keyboard(self) -> None:
        return None

    def attach_keyboard(self, listener: object) -> None:
        return None

    def detach_keyboard(self, listener: object) -> None:
        return None

    def key_source(self) -> None:
        return None

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        return None
