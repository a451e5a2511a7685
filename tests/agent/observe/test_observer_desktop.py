"""The observer on a real desktop: Xvfb + openbox, real xterm and Tk windows, real key events
from xdotool through X RECORD and pynput, and the real detection engine when it is installed."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.observe.observer import ObservePolicy, Observer
from lantern.v1 import lantern_pb2 as pb
from tests.agent.observe.fakes import FakeEngine, ListSink
from tests.desktop import Desktop

pytestmark = pytest.mark.desktop

RISK_PHRASE = "sometimes i want to kill myself"
NEUTRAL = "this homework is due on friday"


@functools.cache
def load_engine() -> Any:
    """The real engine if it is importable, else the test fake (same API); loaded once."""
    try:
        from lantern.detection import Engine

        return Engine.load()
    except Exception:
        return FakeEngine()


@pytest.fixture
def observed(desktop_apps: Desktop) -> Iterator[tuple[Observer, ListSink, Desktop]]:
    sink = ListSink()
    obs = Observer(load_engine(), sink, ObservePolicy(), display=desktop_apps.display)
    obs.start()
    try:
        yield obs, sink, desktop_apps
    finally:
        t0 = time.monotonic()
        obs.stop()
        assert time.monotonic() - t0 < 3.0, "stop() must never hang"


def focus_event(sink: ListSink, title: str, timeout: float = 3.0) -> pb.WindowFocus:
    ev = sink.wait_for(
        lambda e: e.HasField("window_focus") and e.window_focus.title == title, timeout
    )
    assert ev is not None, f"no WindowFocus for {title!r}: {sink.of_kind('window_focus')}"
    return ev.window_focus


def wait_keyboard_ready(obs: Observer, desk: Desktop) -> None:
    # pynput's RECORD context is created asynchronously after start(): probe with a harmless
    # key until the observer has seen one (bounded).
    deadline = time.monotonic() + 5
    while obs.stats.keys == 0 and time.monotonic() < deadline:
        desk.key("shift")
        desk.key("Escape")
        time.sleep(0.05)
    assert obs.stats.keys > 0, "keyboard listener saw no keys"


def test_window_focus_and_typed_match(observed: tuple[Observer, ListSink, Desktop]) -> None:
    obs, sink, desk = observed
    caps = obs.capabilities()
    assert (caps.windows, caps.keyboard, caps.browser) == ("ok", "ok", "ok")

    term = desk.xterm("Essay draft")
    wf = focus_event(sink, "Essay draft")
    assert (wf.process, wf.pid, wf.app) == ("xterm", term.pid, "XTerm")
    tk = desk.tk_window("Tk notes")
    wf = focus_event(sink, "Tk notes")
    assert wf.pid == tk.pid and wf.app == "Tk"

    desk.activate(term.window)
    time.sleep(0.1)
    wait_keyboard_ready(obs, desk)
    t0 = time.monotonic()
    desk.type(NEUTRAL + ". ", delay_ms=20)
    desk.type(RISK_PHRASE + ".", delay_ms=20)  # the full stop completes the phrase
    typed_s = time.monotonic() - t0
    ev = sink.wait_for(lambda e: e.HasField("risk_match"), timeout=2.0)
    assert ev is not None, "no RiskMatch within 2 s of typing"
    m = ev.risk_match
    assert m.source == pb.SOURCE_TYPED
    assert m.category in ("suicide", "self_harm")
    assert (m.title, m.process, m.app) == ("Essay draft", "xterm", "XTerm")
    assert 0 < len(m.snippet) <= 80
    assert NEUTRAL not in m.snippet  # context is bounded, never the buffer
    assert obs.stats.key_to_emit_s, "latency not recorded"
    print(
        f"\ntyped {len(NEUTRAL) + len(RISK_PHRASE) + 3} chars in {typed_s:.2f}s; "
        f"key->emit {statistics.median(obs.stats.key_to_emit_s) * 1000:.2f} ms"
    )

    # A phrase left at the end of the buffer (no boundary typed) is completed by the pause.
    desk.activate(tk.window)
    desk.type("i hate you, everyone hates you", delay_ms=10)
    ev = sink.wait_for(lambda e: e.risk_match.title == "Tk notes", timeout=2.0)
    assert ev is not None, "no RiskMatch within 2 s for a phrase at the end of the buffer"
    assert ev.risk_match.category == "bullying" and ev.risk_match.app == "Tk"


def test_neutral_typing_raises_nothing(observed: tuple[Observer, ListSink, Desktop]) -> None:
    obs, sink, desk = observed
    desk.tk_window("Homework")
    focus_event(sink, "Homework")
    wait_keyboard_ready(obs, desk)
    desk.type(NEUTRAL, delay_ms=10)
    time.sleep(0.5)
    assert sink.of_kind("risk_match") == []


def test_utf8_title(observed: tuple[Observer, ListSink, Desktop]) -> None:
    _, sink, desk = observed
    desk.xterm("Café ✓ — ünïcode")
    wf = focus_event(sink, "Café ✓ — ünïcode")
    assert wf.process == "xterm"


def test_excluded_app_typing_is_not_captured(desktop_apps: Desktop) -> None:
    sink = ListSink()
    # Exclude xterm by policy: typing into it must produce no match and no title.
    policy = ObservePolicy(excluded_apps=frozenset({"xterm"}))
    obs = Observer(load_engine(), sink, policy, display=desktop_apps.display)
    obs.start()
    try:
        desktop_apps.xterm("Vault")
        ev = sink.wait_for(
            lambda e: e.HasField("window_focus") and e.window_focus.process == "xterm"
        )
        assert ev is not None and ev.window_focus.title == ""
        wait_keyboard_ready(obs, desktop_apps)
        desktop_apps.type(RISK_PHRASE, delay_ms=5)
        time.sleep(0.5)
        assert sink.of_kind("risk_match") == []
        assert obs.stats.dropped_keys >= len(RISK_PHRASE)
    finally:
        obs.stop()


def test_screen_locker_password_is_never_captured(
    observed: tuple[Observer, ListSink, Desktop],
) -> None:
    obs, sink, desk = observed
    term = desk.xterm("Chat")
    focus_event(sink, "Chat")
    wait_keyboard_ready(obs, desk)
    locker = desk.screen_locker("Locked")
    # The locker is reported (it is where keys go), and nothing typed into it is captured.
    assert focus_event(sink, "Locked").app == "Tk"
    dropped = obs.stats.dropped_keys
    desk.type(RISK_PHRASE + ". ", delay_ms=5)
    time.sleep(1.2)  # past the idle flush
    assert sink.of_kind("risk_match") == []
    assert obs.stats.dropped_keys - dropped >= len(RISK_PHRASE)
    chats = len([e for e in sink.of_kind("window_focus") if e.window_focus.title == "Chat"])
    locker.close()
    desk.activate(term.window)
    # Unlocking is a focus change back to the window below.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and chats == len(
        [e for e in sink.of_kind("window_focus") if e.window_focus.title == "Chat"]
    ):
        time.sleep(0.05)
    assert [e.window_focus.title for e in sink.of_kind("window_focus")][-1] == "Chat"
    desk.type(RISK_PHRASE + ".", delay_ms=5)
    assert sink.wait_for(lambda e: e.risk_match.title == "Chat", 2.0) is not None


class RecordingScanner:
    """Keeps the last buffer it was given, so a test can see what the observer made of keys."""

    def __init__(self) -> None:
        self.last = ""

    def update(self, buffer: str) -> list[Any]:
        self.last = buffer
        return []

    def reset(self) -> None:
        self.last = ""


class RecordingEngine(FakeEngine):
    def __init__(self) -> None:
        super().__init__()
        self.scanners: list[RecordingScanner] = []

    def incremental(self) -> RecordingScanner:  # type: ignore[override]
        self.scanners.append(RecordingScanner())
        return self.scanners[-1]


def test_layouts_altgr_and_layout_changes(desktop_apps: Desktop) -> None:
    desk = desktop_apps
    engine = RecordingEngine()
    obs = Observer(engine, ListSink(), ObservePolicy(), display=desk.display)
    obs.start()
    try:
        desk.run("setxkbmap", "gb")
        desk.xterm("Layouts")
        wait_keyboard_ready(obs, desk)
        desk.type("cost ", delay_ms=10)
        desk.key("ISO_Level3_Shift+4", "5")  # AltGr+4 is the euro sign on a UK keyboard
        time.sleep(0.3)
        assert engine.scanners[-1].last.endswith("cost €5")
        # A layout change mid-session: keys must be read with the new keymap (pynput alone
        # would keep the old one and report "Cqf2" for "Café" on a French layout).
        desk.run("setxkbmap", "fr")
        time.sleep(0.3)
        desk.type(" café", delay_ms=10)
        time.sleep(0.3)
        assert engine.scanners[-1].last.endswith("cost €5 café")
        # Two layouts, typing in the second group (pynput alone reported "ghbdtn").
        desk.run("setxkbmap", "-layout", "gb,ru")
        time.sleep(0.3)
        desk.type(" привет", delay_ms=10)
        time.sleep(0.3)
        assert engine.scanners[-1].last.endswith("cost €5 café привет")
    finally:
        desk.run("setxkbmap", "us")
        obs.stop()


def test_no_keys_lost_at_full_xdotool_speed(observed: tuple[Observer, ListSink, Desktop]) -> None:
    obs, _, desk = observed
    desk.xterm("Fast typing")
    wait_keyboard_ready(obs, desk)
    text = ("abcdefghij klmnopqrs tuvwxyz " * 110)[:3000]  # no capitals: no Shift presses
    before = obs.stats.keys
    t0 = time.monotonic()
    desk.type(text, delay_ms=0)
    rate = len(text) / (time.monotonic() - t0)
    deadline = time.monotonic() + 5
    while obs.stats.keys - before < len(text) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert obs.stats.keys - before == len(text), f"lost keys at {rate:.0f} chars/s"


def test_lean_record_reader(desktop_apps: Desktop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-in RECORD reader (LANTERN_X11_KEYS=record) end to end: text, AltGr, a match."""
    monkeypatch.setenv("LANTERN_X11_KEYS", "record")
    desk = desktop_apps
    engine = RecordingEngine()
    obs = Observer(engine, ListSink(), ObservePolicy(), display=desk.display)
    obs.start()
    try:
        assert obs.capabilities().keyboard == "ok"
        desk.run("setxkbmap", "gb")
        desk.xterm("Recorder")
        wait_keyboard_ready(obs, desk)
        desk.type("Hello, World ", delay_ms=5)
        desk.key("ISO_Level3_Shift+4", "BackSpace", "ISO_Level3_Shift+4", "5")
        time.sleep(0.3)
        assert engine.scanners[-1].last.endswith("Hello, World €5")
    finally:
        desk.run("setxkbmap", "us")
        t0 = time.monotonic()
        obs.stop()
        assert time.monotonic() - t0 < 1.0
    sink = ListSink()
    obs = Observer(load_engine(), sink, ObservePolicy(), display=desk.display)
    obs.start()
    try:
        desk.xterm("Recorder 2")
        wait_keyboard_ready(obs, desk)
        desk.type(RISK_PHRASE + ".", delay_ms=5)
        ev = sink.wait_for(lambda e: e.risk_match.title == "Recorder 2", 2.0)
        assert ev is not None and ev.risk_match.category in ("suicide", "self_harm")
    finally:
        obs.stop()
