"""The observer: window focus, browser titles and typed text, turned into events for the spool.

Threads (all daemons, all stopped by :meth:`Observer.stop` with timeouts):

* the platform's window watcher (X11: one X connection sleeping in ``select``),
* pynput's keyboard listener, whose callback is a single queue put,
* one consumer thread that owns all state: the focused window, the typed-text buffer, the
  detection scanner and the placeholder debounce. Keys and focus changes arrive on one queue, so
  the buffer is cleared exactly between the keys of two windows.

Privacy (DESIGN.md principle 1): typed text exists only in the consumer's :class:`TypedBuffer`. It
is never logged, never written anywhere and never put in an event, except for the bounded snippet
around a match that the detection engine returns. Excluded apps and secure windows (password
prompts, lock screens) get no buffer at all.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agent.observe.keyboard import KeyboardListener, KeyDecoder, stroke_from_pynput
from agent.observe.typed_text import DEFAULT_LIMIT, TypedBuffer
from agent.observe.window import FocusState, FocusTracker, describe
from agent.platform.base import (
    OK,
    KeySource,
    PlatformBackend,
    WindowInfo,
    WindowSource,
    select_backend,
    unavailable,
)
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

SNIPPET_MAX = 80  # the contract's bound on a match's context; enforced here as well
MATCHED_MAX = 80
TITLE_RESCAN_S = 600.0  # a title already scanned is not re-alerted on refocus within this time
# A phrase at the very end of the buffer only completes at a word boundary ("kill" may become
# "killer"). When typing pauses this long mid-word, the end is taken as a boundary. Longer than
# most pauses inside a word, short enough for an alert within 2 s.
IDLE_FLUSH_S = 0.8
_STOP_TIMEOUT_S = 2.0
_IDLE_WAIT_S = 300.0


# ---------------------------------------------------------------- what we depend on


class DetectionHit(Protocol):
    """The fields of ``lantern.detection.Hit`` the observer reads (read-only: Hit is frozen)."""

    @property
    def category(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def rule(self) -> str: ...
    @property
    def matched(self) -> str: ...
    @property
    def snippet(self) -> str: ...
    @property
    def start(self) -> int: ...


class IncrementalScanner(Protocol):
    """``lantern.detection.IncrementalScanner``: new hits since the last call, for one buffer.

    A scanner may also have ``flush() -> list[Hit]``, treating the end of the buffer as a word
    boundary; the observer calls it when typing pauses and before focus moves away.
    """

    def update(self, buffer: str) -> Sequence[DetectionHit]: ...

    def reset(self) -> None: ...


class DetectionEngine(Protocol):
    """``lantern.detection.Engine`` as the observer uses it."""

    def scan(self, text: str, source: str) -> Sequence[DetectionHit]: ...

    def incremental(self) -> IncrementalScanner: ...


class EventSink(Protocol):
    """Where events go: the spool, which fills ``event_id``, ``seq`` and ``os_user``.

    The observer sets ``observed_at`` and the event's kind. ``emit`` is called from the observer's
    consumer thread and should return quickly.
    """

    def emit(self, event: pb.Event) -> None: ...


@dataclass
class ObservePolicy:
    """What the collector's Policy says about capture; replace it live with ``set_policy``."""

    capture_typed: bool = True
    capture_titles: bool = True
    excluded_apps: frozenset[str] = frozenset(
        {"keepassxc", "1password", "bitwarden", "lastpass", "keepass"}
    )
    min_severity: int = 1  # don't emit matches below this
    categories: frozenset[str] = frozenset()  # empty = all categories
    # Match window titles on the device too (RiskMatch with SOURCE_TITLE). Off by default: the
    # collector matches the titles WindowFocus events carry, and doing both would double-count.
    scan_titles: bool = False
    buffer_limit: int = DEFAULT_LIMIT


@dataclass
class ObserverStats:
    """Counters for status and benchmarks; never any content."""

    keys: int = 0
    focus_events: int = 0
    typed_matches: int = 0
    flushed_matches: int = 0  # typed matches completed by a pause or focus change
    title_matches: int = 0
    dropped_keys: int = 0  # keys not captured (excluded app, secure window, policy)
    engine_errors: int = 0
    key_to_emit_s: list[float] = field(default_factory=list)  # last 1000 match latencies


# ---------------------------------------------------------------- the observer


@dataclass
class _Typing:
    """The typed-text context of the focused window."""

    info: WindowInfo
    state: FocusState
    buffer: TypedBuffer
    scanner: IncrementalScanner | None
    # (rule, absolute start) of hits already emitted, so a scanner that re-reports a hit after
    # the buffer was trimmed (positions shift) does not produce a duplicate event.
    seen: set[tuple[str, int]] = field(default_factory=set)
    flush_due: float | None = None  # monotonic time of the idle flush, while one is pending


class Observer:
    """Watches the focused window and the keyboard and emits WindowFocus and RiskMatch events."""

    def __init__(
        self,
        engine: DetectionEngine,
        sink: EventSink,
        policy: ObservePolicy,
        *,
        display: str | None = None,
        backend: PlatformBackend | None = None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._policy = policy
        self._display = display
        self._backend = backend
        self._wall_clock_ns = wall_clock_ns
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._windows: WindowSource | None = None
        self._keyboard: KeySource | None = None
        self._consumer: threading.Thread | None = None
        self._started = False
        self._lock = threading.Lock()  # start/stop/set_policy from different threads
        # Held while the consumer state below changes (the consumer, or a direct key source).
        self._state_lock = threading.Lock()
        self.stats = ObserverStats()
        # Consumer-thread state.
        self._decoder = KeyDecoder(level3=self._level3_char)
        self._tracker = FocusTracker(self._emit_focus)
        self._typing: _Typing | None = None
        self._titles_scanned: OrderedDict[str, float] = OrderedDict()

    # ---------------------------------------------------------------- public API

    def start(self) -> None:
        """Start the window watcher, the keyboard listener and the consumer. Non-blocking."""
        with self._lock:
            if self._started:
                return
            self._started = True
            if self._backend is None:
                self._backend = select_backend(self._display)
            self._consumer = threading.Thread(
                target=self._consume, name="lantern-observe", daemon=True
            )
            self._consumer.start()
            self._windows = self._backend.window_source()
            self._windows.start(self._on_window)
            self._keyboard = self._new_keyboard()
            if self._policy.capture_typed:
                self._start_keyboard()

    def stop(self) -> None:
        """Stop every thread; returns within a few seconds even if a platform call hangs."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            if self._keyboard is not None:
                self._keyboard.stop(_STOP_TIMEOUT_S)
            if self._windows is not None:
                self._windows.stop(_STOP_TIMEOUT_S)
            self._queue.put(("stop",))
            if self._consumer is not None:
                self._consumer.join(_STOP_TIMEOUT_S)
                if self._consumer.is_alive():
                    log.warning("observer consumer did not stop within %.1fs", _STOP_TIMEOUT_S)
                self._consumer = None

    def capabilities(self) -> pb.Capabilities:
        """``"ok"`` or ``"unavailable: <reason>"`` for windows, keyboard and browser titles."""
        policy = self._policy
        if self._windows is not None and self._started:
            windows = self._windows.status()
        else:
            windows = unavailable("not started")
        if not policy.capture_typed:
            keyboard = unavailable("typed-text capture disabled by policy")
        elif self._keyboard is not None and self._started:
            keyboard = self._keyboard.status()
        else:
            keyboard = unavailable("not started")
        if windows != OK:
            browser = unavailable("window titles unavailable")
        elif not policy.capture_titles:
            browser = unavailable("title capture disabled by policy")
        else:
            browser = OK
        return pb.Capabilities(windows=windows, keyboard=keyboard, browser=browser)

    def set_policy(self, policy: ObservePolicy) -> None:
        """Apply a new policy live: the keyboard listener starts or stops as capture requires."""
        with self._lock:
            old, self._policy = self._policy, policy
            if self._started and self._keyboard is not None:
                if old.capture_typed and not policy.capture_typed:
                    self._keyboard.stop(_STOP_TIMEOUT_S)
                    self._keyboard = self._new_keyboard()
                elif policy.capture_typed and not old.capture_typed:
                    self._start_keyboard()
            self._queue.put(("policy", policy))

    def _start_keyboard(self) -> None:
        """Start the platform's own key source; if it cannot start, pynput's listener, whose
        status then says why keys are unavailable (e.g. no X RECORD) if it cannot either."""
        assert self._keyboard is not None and self._backend is not None
        direct = getattr(self._keyboard, "direct", False)
        status = self._keyboard.start(self._on_key_direct if direct else self._on_key)
        if status != OK and not isinstance(self._keyboard, KeyboardListener):
            log.warning("platform key source unavailable (%s): trying pynput", status)
            self._keyboard.stop(_STOP_TIMEOUT_S)
            self._keyboard = KeyboardListener(self._backend)
            self._keyboard.start(self._on_key)

    def _new_keyboard(self) -> KeySource:
        backend = self._backend
        assert backend is not None  # set in start()
        return backend.key_source() or KeyboardListener(backend)

    def set_engine(self, engine: DetectionEngine) -> None:
        """Swap the detection engine live (a new lexicon from policy); the focused window's
        buffer starts afresh with a scanner from the new engine."""
        self._engine = engine
        self._queue.put(("policy", self._policy))

    # ---------------------------------------------------------------- producers (other threads)

    def _level3_char(self, keysym: int, shift: bool) -> str | None:
        backend = self._backend
        return backend.level3_char(keysym, shift) if backend is not None else None

    def _on_window(self, info: WindowInfo | None) -> None:
        self._queue.put(("focus", info))

    def _on_key(self, key: Any, pressed: bool, t: float) -> None:
        # pynput's thread: a queue put and nothing else.
        self._queue.put(("key", key, pressed, t))

    def _on_key_direct(self, key: Any, pressed: bool, t: float) -> None:
        """A key from a source whose thread does nothing else (the lean X11 reader): handled
        right here, under the state lock, instead of waking the consumer for every key (the
        hand-over between two threads cost more than the key itself). Focus changes already
        queued are applied first, so keys still land in the window they were typed in."""
        q = self._queue
        wake = False
        with self._state_lock:
            while not q.empty():
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if item[0] == "wake":
                    wake = True  # meant for the consumer: passed on below
                elif not self._process(item):
                    q.put(item)  # "stop" is the consumer's to see
                    return
            typing = self._typing
            had_deadline = typing is not None and typing.flush_due is not None
            self._process(("key", key, pressed, t))
            typing = self._typing
            wake |= not had_deadline and typing is not None and typing.flush_due is not None
        if wake:  # a word has started: the consumer must wake for its idle flush
            q.put(("wake",))

    # ---------------------------------------------------------------- the consumer thread

    def _consume(self) -> None:
        q = self._queue
        while True:
            deadlines = [d for d in (self._tracker.deadline(), self._flush_deadline()) if d]
            # Wake for the next deadline (debounce, idle flush) or an item; idle, only a bounded
            # wait remains (stop() puts an item, so it never depends on the timeout).
            timeout = _IDLE_WAIT_S
            if deadlines:
                timeout = max(0.0, min(_IDLE_WAIT_S, min(deadlines) - time.monotonic()))
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item = None
            with self._state_lock:
                if not self._process(item):
                    return

    def _process(self, item: tuple[Any, ...] | None) -> bool:
        """Handle one queued item (None: a deadline passed), then what is due; False on stop.
        Called with the state lock held."""
        try:
            if item is not None:
                kind = item[0]
                if kind == "stop":
                    return False
                if kind == "key":
                    self._handle_key(item[1], item[2], item[3])
                elif kind == "focus":
                    self._handle_focus(item[1])
                elif kind == "policy":
                    self._handle_policy()
            self._tracker.poll()
            self._poll_flush()
        except Exception as exc:
            # Log the type only: a message could carry typed text.
            log.error("observer consumer error: %s", type(exc).__name__)
        return True

    def _handle_focus(self, info: WindowInfo | None) -> None:
        policy = self._policy
        state = describe(info, policy.excluded_apps) if info is not None else None
        typing = self._typing
        if (
            info is None
            or state is None
            or typing is None
            or typing.state.handle != state.handle
            or not state.captures_typing
            # Leaving a password field inside the same window must turn capture back on.
            or not typing.state.captures_typing
        ):
            self._new_typing(info, state)
        else:
            # Same window, new title: keep the buffer (editors mark unsaved changes in the title,
            # which would otherwise wipe it on the first keystroke).
            typing.info, typing.state = info, state
        if state is not None and (state.excluded or not policy.capture_titles):
            # Titles are not reported here, so title changes are not focus changes either.
            state = replace(state, title="", page_title="")
        self._tracker.update(state)

    def _handle_policy(self) -> None:
        # Re-classify the focused window under the new exclusions; drop its buffer if now excluded.
        typing = self._typing
        if typing is not None:
            self._new_typing(typing.info, describe(typing.info, self._policy.excluded_apps))

    def _flush_deadline(self) -> float | None:
        typing = self._typing
        return typing.flush_due if typing is not None else None

    def _poll_flush(self) -> None:
        typing = self._typing
        due = typing.flush_due if typing is not None else None
        if typing is not None and due is not None and time.monotonic() >= due:
            self._flush(typing)

    def _flush(self, typing: _Typing) -> None:
        """Take the end of the buffer as a word boundary and emit what that completes."""
        typing.flush_due = None
        flush = getattr(typing.scanner, "flush", None)
        if flush is None or not typing.buffer.text:
            return
        try:
            hits = flush()
        except Exception as exc:
            self.stats.engine_errors += 1
            log.error("detection engine failed to flush typed text: %s", type(exc).__name__)
            return
        self.stats.flushed_matches += self._emit_typed(typing, hits, None)

    def _new_typing(self, info: WindowInfo | None, state: FocusState | None) -> None:
        old = self._typing
        if old is not None:
            if old.flush_due is not None and old.scanner is not None:
                self._flush(old)  # focus is moving on: what was typed last is complete
            old.buffer.clear()
            if old.scanner is not None:
                old.scanner.reset()
        self._typing = None
        if info is None or state is None:
            return
        scanner: IncrementalScanner | None = None
        if state.captures_typing and self._policy.capture_typed:
            try:
                scanner = self._engine.incremental()
            except Exception as exc:
                self.stats.engine_errors += 1
                log.error("detection engine failed to start a scanner: %s", type(exc).__name__)
        self._typing = _Typing(
            info=info, state=state, buffer=TypedBuffer(self._policy.buffer_limit), scanner=scanner
        )

    def _handle_key(self, key: Any, pressed: bool, t: float) -> None:
        stroke = stroke_from_pynput(key)
        edit = self._decoder.feed(stroke, pressed)  # always fed, to track held modifiers
        if not pressed:
            return
        self.stats.keys += 1
        typing = self._typing
        if (
            typing is None
            or typing.scanner is None
            or not typing.state.captures_typing
            or not self._policy.capture_typed
        ):
            self.stats.dropped_keys += 1
            return
        if edit is None:
            return
        buffer = typing.buffer
        if not buffer.apply(edit):
            return
        text = buffer.text
        try:
            hits = typing.scanner.update(text)
        except Exception as exc:
            self.stats.engine_errors += 1
            log.error("detection engine failed on typed text: %s", type(exc).__name__)
            return
        # Mid-word: a pause will complete the word. At a boundary the scanner has seen it all.
        typing.flush_due = time.monotonic() + IDLE_FLUSH_S if text[-1:].isalnum() else None
        self._emit_typed(typing, hits, t)

    def _emit_typed(
        self, typing: _Typing, hits: Sequence[DetectionHit], key_time: float | None
    ) -> int:
        emitted = 0
        for hit in hits:
            key_pos = (str(hit.rule), int(getattr(hit, "start", 0)) + typing.buffer.front_trimmed)
            if key_pos in typing.seen:
                continue
            typing.seen.add(key_pos)
            if self._emit_match(hit, pb.SOURCE_TYPED, typing.state):
                emitted += 1
                self.stats.typed_matches += 1
                if key_time is not None:
                    latencies = self.stats.key_to_emit_s
                    latencies.append(time.monotonic() - key_time)
                    if len(latencies) > 1000:
                        del latencies[:-1000]
        return emitted

    # ---------------------------------------------------------------- emitting events

    def _timestamped(self) -> pb.Event:
        event = pb.Event()
        event.observed_at.FromNanoseconds(self._wall_clock_ns())
        return event

    def _emit_focus(self, state: FocusState) -> None:
        policy = self._policy
        show_title = policy.capture_titles and not state.excluded  # (already blanked if not)
        event = self._timestamped()
        focus = event.window_focus
        focus.app = state.app
        focus.process = state.process
        focus.pid = state.pid or 0
        focus.browser = state.browser
        focus.private_window = state.private
        if show_title:
            focus.title = state.title
            focus.page_title = state.page_title
        self._sink.emit(event)
        self.stats.focus_events += 1
        if show_title and policy.scan_titles and state.title:
            self._scan_title(state)

    def _scan_title(self, state: FocusState) -> None:
        now = time.monotonic()
        seen = self._titles_scanned
        last = seen.get(state.title)
        if last is not None and now - last < TITLE_RESCAN_S:
            return
        seen[state.title] = now
        seen.move_to_end(state.title)
        while len(seen) > 256:
            seen.popitem(last=False)
        try:
            hits = self._engine.scan(state.title, "title")
        except Exception as exc:
            self.stats.engine_errors += 1
            log.error("detection engine failed on a title: %s", type(exc).__name__)
            return
        for hit in hits:
            if self._emit_match(hit, pb.SOURCE_TITLE, state):
                self.stats.title_matches += 1

    def _emit_match(self, hit: DetectionHit, source: int, state: FocusState) -> bool:
        policy = self._policy
        if int(hit.severity) < policy.min_severity:
            return False
        if policy.categories and hit.category not in policy.categories:
            return False
        event = self._timestamped()
        match = event.risk_match
        match.category = str(hit.category)
        match.severity = int(hit.severity)
        match.rule = str(hit.rule)
        match.matched = str(hit.matched)[:MATCHED_MAX]
        match.snippet = bound_snippet(str(hit.snippet), str(hit.matched))
        match.source = source  # type: ignore[assignment]
        match.app = state.app
        match.process = state.process
        if policy.capture_titles and not state.excluded:
            match.title = state.title
        match.lexicon_version = str(getattr(self._engine, "version", "") or "")
        self._sink.emit(event)
        return True


def bound_snippet(snippet: str, matched: str, limit: int = SNIPPET_MAX) -> str:
    """At most ``limit`` characters of ``snippet``, centred on ``matched`` when it is longer.

    The engine already bounds snippets; this is the agent's own guarantee that no event ever
    carries more typed context than the contract allows.
    """
    if len(snippet) <= limit:
        return snippet
    at = snippet.find(matched) if matched else -1
    if at < 0:
        return snippet[:limit]
    start = max(0, min(at + len(matched) // 2 - limit // 2, len(snippet) - limit))
    return snippet[start : start + limit]
