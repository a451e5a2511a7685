"""The observer end to end with a scripted platform: no X server needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.observe.keyboard import KeyStroke
from agent.observe.observer import ObservePolicy, Observer, bound_snippet
from agent.platform.base import WindowInfo
from lantern.v1 import lantern_pb2 as pb
from tests.agent.observe.fakes import FakeEngine, ListSink, ScriptedBackend

XTERM = WindowInfo(handle=1, title="Essay draft", pid=10, process="xterm", app_class="XTerm")
OTHER = WindowInfo(handle=2, title="Notes", pid=11, process="gedit", app_class="Gedit")
VAULT = WindowInfo(
    handle=3, title="Passwords.kdbx", pid=12, process="keepassxc", app_class="KeePassXC"
)


@pytest.fixture
def rig() -> Iterator[tuple[Observer, ListSink, ScriptedBackend]]:
    sink = ListSink()
    backend = ScriptedBackend()
    obs = Observer(FakeEngine(), sink, ObservePolicy(), backend=backend)
    obs.start()
    try:
        yield obs, sink, backend
    finally:
        obs.stop()


def type_text(obs: Observer, text: str) -> None:
    for c in text:
        key = KeyStroke(name="space") if c == " " else KeyStroke(char=c)
        obs._on_key(key, True, 0.0)
        obs._on_key(key, False, 0.0)


def special(obs: Observer, name: str) -> None:
    obs._on_key(KeyStroke(name=name), True, 0.0)
    obs._on_key(KeyStroke(name=name), False, 0.0)


def matches(sink: ListSink, timeout: float = 1.0) -> list[pb.RiskMatch]:
    sink.wait_for(lambda e: e.HasField("risk_match"), timeout)
    return [e.risk_match for e in sink.of_kind("risk_match")]


def test_focus_event_then_typed_match(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    backend.windows.focus(XTERM)
    focus = sink.wait_for(lambda e: e.HasField("window_focus"))
    assert focus is not None
    wf = focus.window_focus
    assert (wf.app, wf.process, wf.pid, wf.title) == ("XTerm", "xterm", 10, "Essay draft")
    assert focus.observed_at.seconds > 0
    type_text(obs, "sometimes I want to kilk")
    special(obs, "backspace")
    type_text(obs, "l myself")
    [m] = matches(sink)
    assert (m.category, m.severity, m.source, m.title, m.app) == (
        "suicide",
        5,
        pb.SOURCE_TYPED,
        "Essay draft",
        "XTerm",
    )
    assert m.matched == "kill myself" and m.lexicon_version == "fake-1"
    assert "kill myself" in m.snippet and len(m.snippet) <= 80
    # No event carries the buffer: only the bounded snippet of the match.
    for e in sink.events:
        assert "sometimes I want" not in str(e).replace(m.snippet, "")


def test_focus_change_clears_buffer(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    backend.windows.focus(XTERM)
    type_text(obs, "kill ")
    backend.windows.focus(OTHER)
    type_text(obs, "myself")
    backend.windows.focus(XTERM)
    type_text(obs, " and more")
    assert matches(sink, 0.3) == []
    assert len(sink.of_kind("window_focus")) == 3


def test_excluded_app_never_captured(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    backend.windows.focus(VAULT)
    type_text(obs, "i hate you kill myself")
    assert matches(sink, 0.3) == []
    [focus] = sink.of_kind("window_focus")
    assert focus.window_focus.app == "KeePassXC" and focus.window_focus.title == ""
    assert obs.stats.dropped_keys == len("i hate you kill myself")


def test_min_severity_and_categories(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    obs.set_policy(ObservePolicy(min_severity=2, categories=frozenset({"bullying"})))
    backend.windows.focus(XTERM)
    type_text(obs, "mild thing, kill myself, hate you")
    ms = matches(sink)
    assert [m.category for m in ms] == ["bullying"]


def test_policy_capture_typed_off(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    obs.set_policy(ObservePolicy(capture_typed=False))
    backend.windows.focus(XTERM)
    type_text(obs, "hate you")
    assert matches(sink, 0.3) == []
    assert obs.capabilities().keyboard.startswith("unavailable: ")


def test_titles_are_scanned_once(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    obs.set_policy(ObservePolicy(scan_titles=True))
    page = WindowInfo(
        handle=5,
        title="why I hate you - Chromium",
        pid=20,
        process="chromium",
        app_class="Chromium",
    )
    backend.windows.focus(page)
    backend.windows.focus(OTHER)
    backend.windows.focus(page)
    [m] = matches(sink)
    assert m.source == pb.SOURCE_TITLE and m.category == "bullying"
    focus = sink.of_kind("window_focus")[0].window_focus
    assert (focus.browser, focus.page_title) == ("Chromium", "why I hate you")


def test_capture_titles_off_blanks_titles(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig
    obs.set_policy(ObservePolicy(capture_titles=False))
    backend.windows.focus(XTERM)
    type_text(obs, "hate you")
    [m] = matches(sink)
    assert m.title == ""
    assert sink.of_kind("window_focus")[0].window_focus.title == ""
    assert obs.capabilities().browser.startswith("unavailable")


def test_capabilities_report_blind_keyboard(
    rig: tuple[Observer, ListSink, ScriptedBackend],
) -> None:
    obs, _, _ = rig
    caps = obs.capabilities()
    assert caps.windows == "ok" and caps.browser == "ok"
    assert caps.keyboard == "unavailable: scripted"


def test_no_display_is_unavailable_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    obs = Observer(FakeEngine(), ListSink(), ObservePolicy())
    obs.start()
    caps = obs.capabilities()
    obs.stop()
    assert caps.windows.startswith("unavailable: no DISPLAY")
    assert caps.keyboard.startswith("unavailable: no DISPLAY")


def test_wayland_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("DISPLAY", ":0")
    obs = Observer(FakeEngine(), ListSink(), ObservePolicy())
    obs.start()
    caps = obs.capabilities()
    obs.stop()
    assert "Wayland" in caps.windows and "Wayland" in caps.keyboard


def test_bound_snippet_centres_on_match() -> None:
    long = "a" * 100 + "kill myself" + "b" * 100
    s = bound_snippet(long, "kill myself")
    assert len(s) == 80 and "kill myself" in s


def test_pause_or_focus_change_completes_a_trailing_phrase() -> None:
    sink = ListSink()
    backend = ScriptedBackend()
    obs = Observer(FakeEngine(boundaries=True), sink, ObservePolicy(), backend=backend)
    obs.start()
    try:
        backend.windows.focus(XTERM)
        type_text(obs, "i hate you")  # no boundary after the phrase
        assert matches(sink, 0.3) == []
        [m] = matches(sink, 2.0)  # the idle flush completes it
        assert m.category == "bullying" and m.title == "Essay draft"
        type_text(obs, " and kill myself")
        backend.windows.focus(OTHER)  # leaving the window completes it at once
        ev = sink.wait_for(lambda e: e.risk_match.category == "suicide", 0.5)
        assert ev is not None and ev.risk_match.title == "Essay draft"
        assert obs.stats.flushed_matches == 2
    finally:
        obs.stop()


def test_title_matches_are_off_by_default(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    _, sink, backend = rig
    backend.windows.focus(
        WindowInfo(
            handle=5,
            title="why I hate you - Chromium",
            pid=20,
            process="chromium",
            app_class="Chromium",
        )
    )
    assert sink.wait_for(lambda e: e.HasField("window_focus")) is not None
    assert matches(sink, 0.2) == []


def test_typed_text_never_reaches_logs(
    rig: tuple[Observer, ListSink, ScriptedBackend], caplog: pytest.LogCaptureFixture
) -> None:
    obs, sink, backend = rig
    caplog.set_level("DEBUG")
    backend.windows.focus(XTERM)
    type_text(obs, "canary-zebra-42 and then i hate you")
    assert matches(sink)
    assert "canary" not in caplog.text and "zebra" not in caplog.text
    assert all("canary" not in str(e) for e in sink.events)


def test_title_changes_in_excluded_apps_are_not_focus_events(
    rig: tuple[Observer, ListSink, ScriptedBackend],
) -> None:
    _, sink, backend = rig
    backend.windows.focus(VAULT)
    backend.windows.focus(
        WindowInfo(handle=3, title="Other.kdbx", pid=12, process="keepassxc", app_class="KeePassXC")
    )
    backend.windows.focus(XTERM)
    assert sink.wait_for(lambda e: e.window_focus.title == "Essay draft") is not None
    assert [e.window_focus.app for e in sink.of_kind("window_focus")] == ["KeePassXC", "XTerm"]


def test_set_engine_swaps_the_lexicon_live(rig: tuple[Observer, ListSink, ScriptedBackend]) -> None:
    obs, sink, backend = rig

    class V2(FakeEngine):
        version = "fake-2"

    backend.windows.focus(XTERM)
    obs.set_engine(V2())
    type_text(obs, "hate you")
    [m] = matches(sink)
    assert m.lexicon_version == "fake-2"


def test_direct_keys_follow_queued_focus_and_still_get_the_idle_flush() -> None:
    """A direct key source (the lean X11 reader) calls the observer on its own thread: focus
    changes queued before a key apply first, and a word's idle flush still happens."""
    sink = ListSink()
    backend = ScriptedBackend()
    obs = Observer(FakeEngine(boundaries=True), sink, ObservePolicy(), backend=backend)
    obs.start()

    def direct(text: str) -> None:
        for c in text:
            obs._on_key_direct(KeyStroke(name="space") if c == " " else KeyStroke(char=c), True, 0)

    try:
        backend.windows.focus(XTERM)
        direct("kill myself ")
        backend.windows.focus(OTHER)  # queued; the next key must not land in XTERM's buffer
        direct("i hate you")  # no boundary: only the consumer's idle flush completes it
        bullying = sink.wait_for(lambda e: e.risk_match.category == "bullying", 2.0)
        suicide = sink.wait_for(lambda e: e.risk_match.category == "suicide", 0.5)
        assert suicide is not None and suicide.risk_match.title == "Essay draft"
        assert bullying is not None and bullying.risk_match.title == "Notes"
        assert obs.stats.flushed_matches == 1
    finally:
        obs.stop()
