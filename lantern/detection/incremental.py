"""Per-keystroke scanning of one typed-text buffer.

The agent hands over the whole (edited) buffer after every keystroke. Most keystrokes only extend
the word being typed, and nothing can complete a match until a word boundary is typed, so those
return at once. When a boundary is typed, or the buffer is edited in the middle, only a bounded
tail window is analysed. Hits are reported once: a hit stays "known" while the text before its start
is unchanged, so backspacing inside a matched word and retyping it does not report it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lantern.detection.hit import Hit

if TYPE_CHECKING:
    from lantern.detection.engine import Engine

WINDOW = 160  # characters of tail context analysed when a boundary is typed


class IncrementalScanner:
    """Incremental scanner for one buffer; create with :meth:`Engine.incremental`."""

    __slots__ = ("_engine", "_prev", "_reported", "_screen")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._screen = engine.candidate
        self._prev = ""
        # (rule, start) -> end of hits already reported and still in the buffer
        self._reported: dict[tuple[str, int], int] = {}

    def reset(self) -> None:
        """Forget the buffer (focus change, buffer cleared)."""
        self._prev = ""
        self._reported.clear()

    def update(self, buffer: str) -> list[Hit]:
        """Hits that are new since the previous call, for the current contents of the buffer."""
        prev = self._prev
        self._prev = buffer
        n = len(buffer)
        if n > len(prev) and buffer.startswith(prev):
            changed = len(prev)
            if n - changed == 1 and buffer[-1].isalnum():
                # still typing a word: nothing new can complete until a boundary is typed
                return []
        else:
            shift = _trim_shift(prev, buffer) if prev and n < len(prev) + 8 else 0
            if shift:
                self._forget(0, shift)
                changed = len(prev) - shift
            else:
                changed = _common_prefix(prev, buffer)
                self._forget(changed, 0)
            if changed >= n:
                return []
        return self._scan_tail(buffer, changed, boundary_end=not buffer[-1:].isalnum())

    def flush(self) -> list[Hit]:
        """Treat the end of the buffer as a word boundary (focus lost, idle, message sent)."""
        return self._scan_tail(self._prev, max(0, len(self._prev) - WINDOW), boundary_end=True)

    def _scan_tail(self, buffer: str, changed: int, *, boundary_end: bool) -> list[Hit]:
        lo = max(0, min(changed, len(buffer)) - WINDOW)
        if lo:
            # start the window on a word boundary
            sp = buffer.find(" ", lo)
            lo = sp + 1 if 0 <= sp < changed else lo
        window = buffer[lo:]
        eng = self._engine
        if not self._screen(window):
            return []
        new: list[Hit] = []
        for h in eng.analyse(window, "typed", boundary_end=boundary_end):
            start, end = h.start + lo, h.end + lo
            key = (h.rule, start)
            if key in self._reported:
                continue
            self._reported[key] = end
            new.append(
                Hit(
                    h.category,
                    h.severity,
                    h.rule,
                    h.matched,
                    h.snippet,
                    start,
                    end,
                    h.source,
                    h.base_severity,
                    h.reasons,
                )
            )
        return new

    def _forget(self, changed: int, shift: int) -> None:
        if shift:
            self._reported = {
                (r, s - shift): e - shift for (r, s), e in self._reported.items() if s >= shift
            }
            return
        self._reported = {k: e for k, e in self._reported.items() if k[1] < changed}


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _trim_shift(prev: str, buffer: str) -> int:
    """If the agent dropped the head of the buffer, how many characters it dropped."""
    probe = buffer[:32]
    if len(probe) < 8:
        return 0
    k = prev.find(probe, 1)
    while k > 0:
        if buffer.startswith(prev[k:]):
            return k
        k = prev.find(probe, k + 1)
    return 0
