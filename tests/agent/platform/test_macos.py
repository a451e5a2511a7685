"""The macOS backend: its logic against a fake of the macOS calls (runs everywhere), and
integration tests against a real macOS session (skipped elsewhere).

The fake mirrors what the real calls return: the window list front to back as dicts keyed by the
``kCGWindow…`` names (no ``kCGWindowName`` without Screen Recording), menu bar and panels on
layers above 0, AX answers only when the process is trusted.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.observe.observer import ObservePolicy, Observer
from agent.observe.window import describe
from agent.platform import macos as mac
from agent.platform.base import OK, WindowInfo, select_backend
from agent.platform.macos import (
    LOCKED_HANDLE,
    NO_ACCESSIBILITY,
    NO_INPUT_MONITORING,
    NO_SCREEN_RECORDING,
    MacOSBackend,
)
from tests.agent.observe.fakes import FakeEngine, ListSink

APPS = {
    501: ("Safari", "Safari", "com.apple.Safari"),  # pid: (process, localized name, bundle id)
    502: ("Google Chrome", "Google Chrome", "com.google.Chrome"),
    503: ("TextEdit", "TextEdit", "com.apple.TextEdit"),
    504: ("1Password", "1Password", "com.1password.1password"),
    505: ("Finder", "Finder", "com.apple.finder"),
}


class FakeMac:
    """A scripted macOS session."""

    def __init__(self) -> None:
        # (window id, pid, title, layer), front to back
        self.windows: list[tuple[int, int, str, int]] = [
            (90, 1, "Menubar", 25),  # the menu bar, above every app window
            (11, 503, "Essay.rtf", 0),
            (12, 501, "BBC News", 0),
        ]
        self.frontmost: int | None = 503
        self.screen_recording: bool | None = True
        self.trusted = True
        self.input_monitoring: int | None = 0
        self.secure = False
        self.locked = False
        self.activation: Callable[[], None] | None = None
        self.watch_fails = False
        self.list_error: Exception | None = None
        self.list_gate: threading.Event | None = None  # set: window_list blocks until released
        self.unwatched = False
        self.reads = 0

    def screen_capture_access(self) -> bool | None:
        return self.screen_recording

    def accessibility_trusted(self) -> bool:
        return self.trusted

    def input_monitoring_access(self) -> int | None:
        return self.input_monitoring

    def secure_input_enabled(self) -> bool:
        return self.secure

    def screen_locked(self) -> bool:
        return self.locked

    def window_list(self) -> list[dict[str, Any]]:
        self.reads += 1
        if self.list_gate is not None:
            self.list_gate.wait()
        if self.list_error is not None:
            err, self.list_error = self.list_error, None
            raise err
        out = []
        for wid, pid, title, layer in self.windows:
            d: dict[str, Any] = {
                "kCGWindowNumber": wid,
                "kCGWindowOwnerPID": pid,
                "kCGWindowOwnerName": APPS.get(pid, ("", "", ""))[1],
                "kCGWindowLayer": layer,
            }
            if self.screen_recording is not False:
                d["kCGWindowName"] = title
            out.append(d)
        return out

    def frontmost_pid(self) -> int | None:
        return self.frontmost if self.trusted else None

    def focused_window_title(self, pid: int) -> str | None:
        if not self.trusted:
            return None
        return next((t for _w, p, t, layer in self.windows if p == pid and layer == 0), None)

    def app_info(self, pid: int) -> tuple[str, str]:
        _proc, name, bundle = APPS.get(pid, ("", "", ""))
        return name, bundle

    def watch_activation(self, callback: Callable[[], None]) -> Any:
        if self.watch_fails:
            raise RuntimeError("no NSWorkspace")
        self.activation = callback
        return "token"

    def unwatch_activation(self, token: Any) -> None:
        assert token == "token"
        self.unwatched = True

    # ---- what the test does to the session
    def activate(self, pid: int, notify: bool = True) -> None:
        mine = [w for w in self.windows if w[1] == pid and w[3] == 0]
        rest = [w for w in self.windows if w not in mine]
        self.windows = [rest[0], *mine, *rest[1:]]  # keep the menu bar on top
        self.frontmost = pid
        if notify and self.activation is not None:
            self.activation()

    def retitle(self, wid: int, title: str) -> None:
        self.windows = [(w, p, title if w == wid else t, la) for w, p, t, la in self.windows]


@pytest.fixture(autouse=True)
def fake_process_names(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mac.process_name
    monkeypatch.setattr(mac, "process_name", lambda pid: APPS[pid][0] if pid in APPS else real(pid))


class Watch:
    def __init__(self, api: FakeMac, poll_s: float) -> None:
        self.api = api
        self.backend = MacOSBackend(api=lambda: api, poll_s=poll_s)
        self.source = self.backend.window_source()
        self.events: queue.Queue[WindowInfo | None] = queue.Queue()
        self.source.start(self.events.put)

    def next(self, timeout: float = 2.0) -> WindowInfo | None:
        return self.events.get(timeout=timeout)

    def quiet(self, reads: int = 3) -> list[WindowInfo | None]:
        """What was reported over the next few readings."""
        target = self.api.reads + reads
        deadline = time.monotonic() + 2
        while self.api.reads < target and time.monotonic() < deadline:
            self.source.wake()
            time.sleep(0.01)
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


@pytest.fixture
def session() -> Iterator[tuple[FakeMac, Callable[..., Watch]]]:
    api = FakeMac()
    watches: list[Watch] = []

    def start(poll_s: float = 30.0) -> Watch:
        watches.append(Watch(api, poll_s))
        return watches[-1]

    yield api, start
    for w in watches:
        w.source.stop(1.0)


def test_activation_and_title_changes_become_window_infos(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start(poll_s=30.0)  # so anything prompt below came from the notification or a wake-up
    assert w.next() == WindowInfo(
        handle=11,
        title="Essay.rtf",
        pid=503,
        process="TextEdit",
        app_class="TextEdit",
        app_instance="com.apple.TextEdit",
    )
    assert w.source.status() == OK

    api.activate(501)  # NSWorkspace's did-activate notification wakes the watcher at once
    info = w.next(timeout=1.0)
    assert info is not None and (info.handle, info.process) == (12, "Safari")
    # Safari's title is the bare page title: the process says it is a browser (browser.py).
    state = describe(info, ())
    assert (state.browser, state.page_title, state.app) == ("Safari", "BBC News", "Safari")

    api.retitle(12, "Homework help")
    w.source.wake()  # what the next poll does
    assert w.next().title == "Homework help"  # type: ignore[union-attr]
    assert w.quiet() == []  # no change, nothing reported


def test_title_changes_are_polled(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start(poll_s=0.02)
    w.next()
    api.retitle(11, "Essay v2.rtf")
    assert w.next().title == "Essay v2.rtf"  # type: ignore[union-attr]
    api.activate(502, notify=False)  # a missed notification: the poll still sees it
    api.windows.insert(1, (13, 502, "Maths", 0))
    info = w.next()
    assert info is not None and info.handle == 13
    assert describe(info, ()).browser == "Google Chrome"  # Chrome on macOS: no title suffix


def test_without_accessibility_the_front_window_decides(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.trusted = False  # no AX focused application: the frontmost layer-0 window's owner
    w = start()
    info = w.next()
    assert info is not None and info.pid == 503 and info.title == "Essay.rtf"  # not the menu bar
    api.activate(501)
    assert w.next().pid == 501  # type: ignore[union-attr]


def test_screen_recording_denied(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.screen_recording = False
    api.trusted = False
    backend = MacOSBackend(api=lambda: api)
    assert backend.windows_status() == NO_SCREEN_RECORDING
    w = start()
    info = w.next()  # the app is still known, its title is not
    assert info is not None and (info.pid, info.title) == (503, "")
    assert w.source.status() == "unavailable: screen recording permission not granted"

    # With Accessibility the title comes from AXTitle, no Screen Recording needed.
    api.trusted = True
    w.source.wake()
    assert w.next().title == "Essay.rtf"  # type: ignore[union-attr]
    assert w.source.status() == OK
    assert backend.windows_status() == OK


def test_secure_event_input_and_lock_screen(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    api.secure = True  # a password field took the keyboard
    w.source.wake()
    info = w.next()
    assert info is not None and info.secure and info.handle == 11
    assert describe(info, ()).captures_typing is False
    api.secure = False
    w.source.wake()
    assert w.next().secure is False  # type: ignore[union-attr]

    api.locked = True
    w.source.wake()
    info = w.next()
    assert info is not None and info.secure and info.handle == LOCKED_HANDLE
    assert describe(info, ()).captures_typing is False
    api.locked = False
    w.source.wake()
    assert w.next().handle == 11  # type: ignore[union-attr]


def test_an_active_app_without_windows(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.frontmost = 505  # Finder with no window open
    w = start()
    info = w.next()
    assert info is not None and (info.handle, info.title, info.process) == (-505, "", "Finder")


def test_errors_are_survived(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.watch_fails = True  # no notifications: polling alone
    api.list_error = RuntimeError("window server hiccup")
    w = start(poll_s=0.02)
    assert w.next().handle == 11  # type: ignore[union-attr]
    assert w.source.status() == OK


def test_stop_is_prompt_even_if_a_call_hangs(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    t0 = time.monotonic()
    w.source.stop(1.0)
    assert time.monotonic() - t0 < 0.5
    assert api.unwatched and w.source.status() == "unavailable: stopped"

    api.list_gate = threading.Event()  # the window server stops answering
    w2 = start(poll_s=0.01)
    time.sleep(0.05)
    t0 = time.monotonic()
    w2.source.stop(0.3)
    assert time.monotonic() - t0 < 0.8
    assert w2.source.status().startswith("unavailable: ")
    api.list_gate.set()


@pytest.mark.parametrize(
    ("input_monitoring", "trusted", "expected"),
    [
        (0, False, OK),
        (1, True, OK),  # Accessibility lets an event tap see keys too
        (1, False, NO_INPUT_MONITORING),
        (2, False, "unavailable: input monitoring permission not granted (not yet requested)"),
        (None, False, NO_ACCESSIBILITY),  # before 10.15
        (None, True, OK),
    ],
)
def test_keyboard_capability(input_monitoring, trusted, expected) -> None:  # type: ignore[no-untyped-def]
    api = FakeMac()
    api.input_monitoring, api.trusted = input_monitoring, trusted
    assert MacOSBackend(api=lambda: api).keyboard_status() == expected


def test_permissions_are_reported_one_by_one() -> None:
    api = FakeMac()
    api.screen_recording, api.trusted, api.input_monitoring = False, False, 1
    assert MacOSBackend(api=lambda: api).permissions() == {
        "screen_recording": "unavailable: screen recording permission not granted",
        "accessibility": "unavailable: accessibility permission not granted",
        "input_monitoring": "unavailable: input monitoring permission not granted",
    }
    api.screen_recording, api.trusted, api.input_monitoring = True, True, 0
    assert set(MacOSBackend(api=lambda: api).permissions().values()) == {OK}


def test_missing_pyobjc_is_reported() -> None:
    def no_pyobjc() -> FakeMac:
        raise ModuleNotFoundError("No module named 'AppKit'", name="AppKit")

    backend = MacOSBackend(api=no_pyobjc)
    assert backend.windows_status() == "unavailable: pyobjc is not installed (AppKit)"
    assert backend.keyboard_status() == "unavailable: pyobjc is not installed (AppKit)"
    assert backend.key_source() is None and backend.level3_char(0x61, False) is None


def test_pynput_listener_never_calls_text_input_sources() -> None:
    module = types.ModuleType("fake_pynput_darwin")
    exec(  # the shape of pynput.keyboard._darwin (1.8): a module-level name used by Listener
        textwrap.dedent(
            """
            import contextlib
            calls = []
            @contextlib.contextmanager
            def keycode_context():
                calls.append("TISCopyCurrentKeyboardInputSource")
                yield ("keyboard type", b"layout")
            class Listener:
                def _run(self):
                    with keycode_context() as context:
                        return context
            """
        ),
        module.__dict__,
    )
    assert mac.patch_pynput_listener(module)
    assert module.Listener()._run() == (None, None)
    assert module.calls == []
    assert not mac.patch_pynput_listener(types.ModuleType("other_backend"))


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the behaviour off macOS")
def test_off_macos_the_real_backend_is_blind_and_never_raises() -> None:
    backend = select_backend(platform="darwin")
    assert isinstance(backend, MacOSBackend)
    assert backend.windows_status() == "unavailable: not running on macOS"
    assert backend.keyboard_status() == "unavailable: not running on macOS"
    source = backend.window_source()
    source.start(lambda info: None)
    deadline = time.monotonic() + 2
    while source.status() == OK and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.status() == "unavailable: not running on macOS"
    source.stop(1.0)
    assert source.status() == "unavailable: not running on macOS"


def test_modules_import_everywhere_without_pyobjc() -> None:
    code = (
        "import sys, agent.platform.macos, agent.platform.macos_api\n"
        "bad = {'objc', 'AppKit', 'Quartz', 'Foundation', 'ApplicationServices', 'CoreFoundation'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_observer_emits_the_same_events_as_on_x11(session) -> None:  # type: ignore[no-untyped-def]
    api, _start = session
    api.windows.append((14, 504, "Vault", 0))
    sink = ListSink()
    backend = MacOSBackend(api=lambda: api, poll_s=0.02)
    obs = Observer(FakeEngine(), sink, ObservePolicy(capture_typed=False), backend=backend)
    obs.start()
    try:
        assert sink.wait_for(lambda e: e.window_focus.title == "Essay.rtf")
        api.activate(501)
        e = sink.wait_for(lambda e: e.window_focus.browser == "Safari")
        assert e is not None and e.window_focus.page_title == "BBC News"
        assert (e.window_focus.process, e.window_focus.pid) == ("Safari", 501)
        api.activate(504)  # 1Password: excluded by the default policy, so no title
        e = sink.wait_for(lambda e: e.window_focus.process == "1Password")
        assert e is not None and e.window_focus.title == ""
        assert (obs.capabilities().windows, obs.capabilities().browser) == (OK, OK)

        api.screen_recording, api.trusted = False, False
        deadline = time.monotonic() + 2
        while obs.capabilities().windows == OK and time.monotonic() < deadline:
            time.sleep(0.01)
        caps = obs.capabilities()
        assert caps.windows == "unavailable: screen recording permission not granted"
        assert caps.browser == "unavailable: window titles unavailable"
    finally:
        t0 = time.monotonic()
        obs.stop()
        assert time.monotonic() - t0 < 1.5


# ---------------------------------------------------------------- a real macOS session

on_macos = pytest.mark.skipif(
    sys.platform != "darwin",
    reason="needs a real macOS login session (runs unchanged on a macOS CI runner)",
)

# Whatever the runner has granted, each capability is one of these.
_WINDOWS_STATES = {OK, NO_SCREEN_RECORDING}
_KEYBOARD_STATES = {
    OK,
    NO_INPUT_MONITORING,
    NO_ACCESSIBILITY,
    "unavailable: input monitoring permission not granted (not yet requested)",
}

_TK_CHILD = textwrap.dedent(
    """
    import sys, tkinter
    root = tkinter.Tk()
    root.title(sys.argv[1])
    root.attributes("-topmost", True)
    root.after(200, lambda: (root.lift(), root.focus_force()))
    root.after(15000, root.destroy)
    root.mainloop()
    """
)


@on_macos
def test_real_capabilities_are_reported_without_prompting() -> None:
    backend = select_backend()
    assert isinstance(backend, MacOSBackend)
    t0 = time.monotonic()
    assert backend.windows_status() in _WINDOWS_STATES
    assert backend.keyboard_status() in _KEYBOARD_STATES
    assert set(backend.permissions()) == {"screen_recording", "accessibility", "input_monitoring"}
    assert time.monotonic() - t0 < 2.0


@on_macos
def test_real_front_window_is_reported_and_stop_is_prompt() -> None:
    backend = MacOSBackend(poll_s=0.2)
    events: queue.Queue[WindowInfo | None] = queue.Queue()
    source = backend.window_source()
    source.start(events.put)
    child = subprocess.Popen([sys.executable, "-c", _TK_CHILD, "Lantern test ✓"])
    try:
        first = events.get(timeout=3)
        assert first is None or (first.pid and first.process)
        assert source.status() in _WINDOWS_STATES

        deadline = time.monotonic() + 8
        info: WindowInfo | None = None
        while time.monotonic() < deadline:
            try:
                got = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if got is not None and got.pid == child.pid:
                info = got
                break
        if info is None:
            pytest.skip("the Tk window did not become frontmost on this runner")
        assert info.handle > 0
        if backend.windows_status() == OK:
            assert info.title == "Lantern test ✓"
        else:
            assert info.title == ""
    finally:
        t0 = time.monotonic()
        source.stop()
        assert time.monotonic() - t0 < 1.0
        child.kill()
        child.wait(5)
    assert source.status() == "unavailable: stopped"


@on_macos
def test_real_process_name() -> None:
    assert mac.process_name(os.getpid()).lower().startswith("python")


@on_macos
def test_real_pynput_listener_starts_without_tis_on_its_thread() -> None:
    backend = MacOSBackend()
    backend.prepare_keyboard()
    from pynput.keyboard import Listener, _darwin

    assert _darwin.keycode_context is mac._no_keycode_context
    listener = Listener(on_press=lambda key: None)
    listener.daemon = True
    listener.start()
    try:
        time.sleep(0.5)  # the crash this prevents happened as the thread started
    finally:
        listener.stop()
