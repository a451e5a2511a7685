"""The Windows backend: its logic against a fake of the Win32 calls (runs everywhere), and
integration tests against a real Windows desktop session (skipped elsewhere).

The fake behaves like user32 where it matters: WinEvent callbacks run only inside ``pump()`` on
the hooking thread, per-process hooks only see their process, ``PostThreadMessageW(WM_QUIT)``
ends the loop.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from agent.observe.observer import ObservePolicy, Observer
from agent.observe.window import describe
from agent.platform import windows as win
from agent.platform.base import OK, WindowInfo, select_backend
from agent.platform.windows import (
    EVENT_OBJECT_FOCUS,
    EVENT_OBJECT_NAMECHANGE,
    EVENT_SYSTEM_DESKTOPSWITCH,
    EVENT_SYSTEM_FOREGROUND,
    SECURE_DESKTOP_HANDLE,
    WindowsBackend,
)
from tests.agent.observe.fakes import FakeEngine, ListSink

_QUIT = object()
_HANG = object()


@dataclass
class FakeWindow:
    title: str
    pid: int
    tid: int
    cls: str = "Notepad"
    style: int = 0


class FakeWin32:
    """A scripted Windows session."""

    def __init__(self) -> None:
        self.windows: dict[int, FakeWindow] = {}
        self.foreground = 0
        self.desktop: str | None = "Default"
        self.focus: dict[int, int] = {}  # thread id -> focused control hwnd
        self.children: dict[int, list[int]] = {}
        self.uia: bool | Exception | None = None
        self.session: int | None = 1
        self.hooks: dict[int, tuple[int, int, int, Callable[[int, int, int, int], None]]] = {}
        self.unhooked: list[int] = []
        self.msgs: queue.Queue[object] = queue.Queue()
        self.thread_id = 0
        self.queue_ready = False
        self.fail_hooks = False
        self.quit_refusals = 0  # PostThreadMessageW fails this many times first
        self._next_hook = 100

    # ---- the Win32Like interface
    def foreground_window(self) -> int:
        return self.foreground

    def window_text(self, hwnd: int) -> str:
        return self.windows[hwnd].title if hwnd in self.windows else ""

    def class_name(self, hwnd: int) -> str:
        return self.windows[hwnd].cls if hwnd in self.windows else ""

    def window_thread_process(self, hwnd: int) -> tuple[int, int]:
        w = self.windows.get(hwnd)
        return (w.tid, w.pid) if w else (0, 0)

    def focused_control(self, thread_id: int) -> int:
        if thread_id == 0:  # GetGUIThreadInfo(0): the foreground thread
            thread_id = self.windows[self.foreground].tid if self.foreground in self.windows else 0
        return self.focus.get(thread_id, 0)

    def child_windows(self, hwnd: int) -> list[int]:
        return list(self.children.get(hwnd, []))

    def window_style(self, hwnd: int) -> int:
        return self.windows[hwnd].style if hwnd in self.windows else 0

    def focused_is_password(self) -> bool | None:
        if isinstance(self.uia, Exception):
            raise self.uia
        return self.uia

    def session_id(self) -> int | None:
        return self.session

    def input_desktop_name(self) -> str | None:
        return self.desktop

    def current_thread_id(self) -> int:
        self.thread_id = threading.get_ident()
        return self.thread_id

    def ensure_message_queue(self) -> None:
        self.queue_ready = True

    def set_hook(self, event_min: int, event_max: int, pid: int, callback) -> int:  # type: ignore[no-untyped-def]
        assert threading.get_ident() == self.thread_id, "hooks belong to the loop thread"
        if self.fail_hooks:
            return 0
        self._next_hook += 1
        self.hooks[self._next_hook] = (event_min, event_max, pid, callback)
        return self._next_hook

    def unhook(self, handle: int) -> None:
        self.hooks.pop(handle, None)
        self.unhooked.append(handle)

    def pump(self) -> bool:
        item = self.msgs.get(timeout=10)
        if item is _QUIT:
            return False
        if item is _HANG:  # an unresponsive loop: never returns to GetMessageW in time
            time.sleep(3600)
        event, hwnd, id_object, id_child, pid = item  # type: ignore[misc]
        for lo, hi, hook_pid, cb in list(self.hooks.values()):
            if lo <= event <= hi and hook_pid in (0, pid):
                cb(event, hwnd, id_object, id_child)
        return True

    def post_quit(self, thread_id: int) -> bool:
        if thread_id != self.thread_id or not self.queue_ready or self.quit_refusals > 0:
            self.quit_refusals -= 1
            return False
        self.msgs.put(_QUIT)
        return True

    def last_error(self) -> int:
        return 5  # ERROR_ACCESS_DENIED

    # ---- what the test does to the session
    def add(self, hwnd: int, title: str, pid: int, tid: int, **kw: object) -> None:
        self.windows[hwnd] = FakeWindow(title, pid, tid, **kw)  # type: ignore[arg-type]

    def fire(self, event: int, hwnd: int, id_object: int = 0, id_child: int = 0) -> None:
        pid = self.windows[hwnd].pid if hwnd in self.windows else 0
        self.msgs.put((event, hwnd, id_object, id_child, pid))

    def activate(self, hwnd: int) -> None:
        self.foreground = hwnd
        self.fire(EVENT_SYSTEM_FOREGROUND, hwnd)

    def rename(self, hwnd: int, title: str, id_object: int = 0) -> None:
        if id_object == 0:
            self.windows[hwnd].title = title
        self.fire(EVENT_OBJECT_NAMECHANGE, hwnd, id_object)

    def move_focus(self, hwnd: int, control: int) -> None:
        self.focus[self.windows[hwnd].tid] = control
        self.fire(EVENT_OBJECT_FOCUS, control)

    def switch_desktop(self, name: str | None) -> None:
        self.desktop = name
        self.msgs.put((EVENT_SYSTEM_DESKTOPSWITCH, 0, 0, 0, 0))

    def hooked_pids(self) -> list[int]:
        return sorted(pid for lo, _hi, pid, _cb in self.hooks.values() if pid)


NAMES = {
    4242: "chrome.exe",
    4343: "notepad.exe",
    4444: "msedge.exe",
    4545: "KeePassXC.exe",
    6000: "ApplicationFrameHost.exe",
    6001: "CalculatorApp.exe",
}


@pytest.fixture(autouse=True)
def fake_process_names(monkeypatch: pytest.MonkeyPatch) -> None:
    real = win.process_name
    monkeypatch.setattr(win, "process_name", lambda pid: NAMES.get(pid or 0) or real(pid))


class Watch:
    """A started window source and the WindowInfos it reported."""

    def __init__(self, api: FakeWin32) -> None:
        self.api = api
        self.backend = WindowsBackend(api=lambda: api)
        self.source = self.backend.window_source()
        self.events: queue.Queue[WindowInfo | None] = queue.Queue()
        self.source.start(self.events.put)

    def next(self, timeout: float = 2.0) -> WindowInfo | None:
        return self.events.get(timeout=timeout)

    def settle(self) -> list[WindowInfo | None]:
        """Everything reported once the loop has handled all queued messages."""
        deadline = time.monotonic() + 2
        while not self.api.msgs.empty() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


@pytest.fixture
def session() -> Iterator[tuple[FakeWin32, Callable[[], Watch]]]:
    api = FakeWin32()
    api.add(0x10, "Essay draft - Notepad", 4343, 7)
    api.add(0x20, "BBC News - Google Chrome", 4242, 8, cls="Chrome_WidgetWin_1")
    api.foreground = 0x10
    watches: list[Watch] = []

    def start() -> Watch:
        watches.append(Watch(api))
        return watches[-1]

    yield api, start
    for w in watches:
        w.source.stop(0.2)


def test_foreground_and_title_changes_become_window_infos(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    first = w.next()
    assert first == WindowInfo(
        handle=0x10, title="Essay draft - Notepad", pid=4343, process="notepad.exe"
    )
    assert w.source.status() == OK

    api.activate(0x20)
    info = w.next()
    assert info is not None and (info.handle, info.process) == (0x20, "chrome.exe")
    # The same browser parsing as on X11 (agent.observe.browser, via describe()).
    state = describe(info, ())
    assert (state.browser, state.page_title, state.app) == (
        "Google Chrome",
        "BBC News",
        "Google Chrome",
    )

    api.rename(0x20, "Homework help - Google Chrome")
    assert w.next().title == "Homework help - Google Chrome"  # type: ignore[union-attr]
    # Renames that are not the foreground window's caption are not changes: a control inside it
    # (id_object != OBJID_WINDOW), the caption of a background window, a repeated name.
    api.rename(0x20, "tab strip", id_object=-4)
    api.rename(0x10, "Essay draft v2 - Notepad")
    api.rename(0x20, "Homework help - Google Chrome")
    assert w.settle() == []

    # Nothing in the foreground (e.g. between two activations).
    api.activate(0)
    assert w.next() is None


def test_title_and_focus_hooks_follow_the_foreground_process(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    assert api.hooked_pids() == [4343, 4343]  # object focus + name change, for Notepad only
    api.activate(0x20)
    w.next()
    assert api.hooked_pids() == [4242, 4242]
    # Events of a process that is not in the foreground never reach the watcher.
    api.rename(0x10, "Renamed in the background")
    assert w.settle() == []


def test_password_controls_are_secure(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.add(0x11, "", 4343, 7, cls="Edit", style=0x50010000 | win.ES_PASSWORD)
    api.add(0x12, "", 4343, 7, cls="Edit", style=0x50010000)
    api.add(0x13, "", 4343, 7, cls="Button", style=0x50010000 | 0x20)  # BS_LEFTTEXT, not a password
    api.add(0x14, "", 4343, 7, cls="WindowsForms10.EDIT.app.0.141b42a_r9_ad1", style=0x20)
    w = start()
    assert not w.next().secure  # type: ignore[union-attr]

    api.move_focus(0x10, 0x11)
    info = w.next()
    assert info is not None and info.secure and info.handle == 0x10
    assert describe(info, ()).captures_typing is False

    api.move_focus(0x10, 0x12)
    assert w.next().secure is False  # type: ignore[union-attr]
    api.move_focus(0x10, 0x13)
    assert w.settle() == []  # a button's 0x20 style bit is not ES_PASSWORD
    api.move_focus(0x10, 0x14)
    assert w.next().secure is True  # type: ignore[union-attr]


def test_ui_automation_decides_where_it_answers(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    api.activate(0x20)  # a browser: its fields are not Win32 controls
    assert w.next().secure is False  # type: ignore[union-attr]
    api.uia = True
    api.fire(EVENT_OBJECT_FOCUS, 0x20, -4, 17)
    assert w.next().secure is True  # type: ignore[union-attr]
    # UI Automation failing falls back to the Win32 check rather than breaking the watcher.
    api.uia = RuntimeError("COM error")
    api.fire(EVENT_OBJECT_FOCUS, 0x20, -4, 18)
    assert w.next().secure is False  # type: ignore[union-attr]
    assert w.source.status() == OK


def test_uwp_apps_are_named_by_their_own_process(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.add(0x50, "Calculator", 6000, 60, cls="ApplicationFrameWindow")
    w = start()
    w.next()
    api.activate(0x50)  # the frame, before the app's window is inside it
    info = w.next()
    assert info is not None and info.process == "ApplicationFrameHost.exe"
    api.add(0x51, "", 6001, 61, cls="Windows.UI.Core.CoreWindow")
    api.children[0x50] = [0x52, 0x51]
    api.add(0x52, "", 6000, 60, cls="ApplicationFrameTitleBarWindow")
    api.rename(0x50, "Calculator - Standard")  # the frame's process renames the frame
    info = w.next()
    assert info is not None and (info.handle, info.pid, info.process) == (
        0x50,
        6001,
        "CalculatorApp.exe",
    )
    assert api.hooked_pids() == [6000, 6000, 6001, 6001]
    # Focus moving inside the app (its own process) is seen: XAML password boxes are found by
    # UI Automation only (they are not Win32 edit controls).
    api.uia = True
    api.fire(EVENT_OBJECT_FOCUS, 0x51, -4, 3)
    assert w.next().secure  # type: ignore[union-attr]


@pytest.mark.parametrize("desktop", ["Winlogon", None])
def test_secure_desktop_means_no_capture(session, desktop) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    api.switch_desktop(desktop)  # lock screen / UAC prompt; None: OpenInputDesktop failed
    info = w.next()
    assert info is not None and info.secure and info.handle == SECURE_DESKTOP_HANDLE
    assert describe(info, ()).captures_typing is False
    assert api.hooked_pids() == []
    api.switch_desktop("Default")
    info = w.next()
    assert info is not None and info.handle == 0x10 and not info.secure


def test_stop_posts_wm_quit_and_unhooks_everything(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.quit_refusals = 3  # PostThreadMessageW failing at first is retried
    w = start()
    w.next()
    t0 = time.monotonic()
    w.source.stop(2.0)
    assert time.monotonic() - t0 < 1.0
    assert api.hooks == {} and len(api.unhooked) == 4
    assert w.source.status() == "unavailable: stopped"


def test_stop_returns_even_if_the_loop_hangs(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    w = start()
    w.next()
    api.msgs.put(_HANG)
    time.sleep(0.05)
    t0 = time.monotonic()
    w.source.stop(0.3)
    assert time.monotonic() - t0 < 0.8
    assert w.source.status().startswith("unavailable: ")


def test_stop_before_the_loop_is_ready(session) -> None:  # type: ignore[no-untyped-def]
    _api, start = session
    w = start()
    w.source.stop(1.0)  # may race the thread's start-up: must still end it
    assert w.source.status() == "unavailable: stopped"


def test_hook_failure_is_reported(session) -> None:  # type: ignore[no-untyped-def]
    api, start = session
    api.fail_hooks = True
    w = start()
    deadline = time.monotonic() + 2
    while w.source.status() == OK and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.source.status() == "unavailable: SetWinEventHook failed (error 5)"
    w.source.stop(0.5)


def test_backend_statuses() -> None:
    api = FakeWin32()
    assert WindowsBackend(api=lambda: api).windows_status() == OK
    assert WindowsBackend(api=lambda: api).keyboard_status() == OK
    api.session = 0
    assert WindowsBackend(api=lambda: api).windows_status() == (
        "unavailable: session 0 (a service) has no interactive desktop"
    )
    assert WindowsBackend(api=lambda: api).keyboard_status().startswith("unavailable: session 0")

    def broken() -> FakeWin32:
        raise OSError("user32 missing GetGUIThreadInfo")

    b = WindowsBackend(api=broken)
    assert b.windows_status() == "unavailable: user32 missing GetGUIThreadInfo"
    assert b.key_source() is None and b.level3_char(0x34, False) is None


@pytest.mark.skipif(sys.platform == "win32", reason="checks the behaviour off Windows")
def test_off_windows_the_real_backend_is_blind_and_never_raises() -> None:
    backend = select_backend(platform="win32")
    assert isinstance(backend, WindowsBackend)
    assert backend.windows_status() == "unavailable: not running on Windows"
    assert backend.keyboard_status() == "unavailable: not running on Windows"
    source = backend.window_source()
    source.start(lambda info: None)
    deadline = time.monotonic() + 2
    while source.status() == OK and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.status() == "unavailable: not running on Windows"
    source.stop(1.0)
    assert source.status() == "unavailable: not running on Windows"


def test_modules_import_everywhere_without_os_libraries() -> None:
    code = (
        "import sys, agent.platform.windows, agent.platform.windows_api\n"
        "bad = {'comtypes', 'win32api', 'pywintypes'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_observer_emits_the_same_events_as_on_x11(session) -> None:  # type: ignore[no-untyped-def]
    api, _start = session
    api.add(0x30, "Vault - KeePassXC", 4545, 9)
    sink = ListSink()
    # Typing stays off: on this Linux machine pynput would pick its X11 backend.
    obs = Observer(
        FakeEngine(),
        sink,
        ObservePolicy(capture_typed=False),
        backend=WindowsBackend(api=lambda: api),
    )
    obs.start()
    try:
        assert sink.wait_for(lambda e: e.window_focus.title == "Essay draft - Notepad")
        api.activate(0x20)
        e = sink.wait_for(lambda e: e.window_focus.browser == "Google Chrome")
        assert e is not None and e.window_focus.page_title == "BBC News"
        assert e.window_focus.process == "chrome.exe" and e.window_focus.pid == 4242
        api.add(0x40, "Maths - [InPrivate] - Microsoft\u200b Edge", 4444, 10)
        api.activate(0x40)
        e = sink.wait_for(lambda e: e.window_focus.browser == "Microsoft Edge")
        assert e is not None and e.window_focus.private_window
        assert e.window_focus.page_title == "Maths"
        api.activate(0x30)  # excluded by the default policy: no title
        e = sink.wait_for(lambda e: e.window_focus.process == "KeePassXC.exe")
        assert e is not None and e.window_focus.title == ""
        caps = obs.capabilities()
        assert (caps.windows, caps.browser) == (OK, OK)
    finally:
        t0 = time.monotonic()
        obs.stop()
        assert time.monotonic() - t0 < 1.5


# ---------------------------------------------------------------- a real Windows desktop

on_windows = pytest.mark.skipif(
    sys.platform != "win32",
    reason="needs a real Windows desktop session (runs unchanged on a Windows CI runner)",
)

_CHILD = textwrap.dedent(
    r"""
    # A top-level window of another process: a Win32 EDIT control (ES_PASSWORD when asked),
    # brought to the foreground, renamed once on request through stdin.
    import ctypes, sys, threading
    from ctypes import wintypes as w
    u = ctypes.WinDLL("user32", use_last_error=True)
    u.CreateWindowExW.restype = w.HWND
    u.CreateWindowExW.argtypes = [w.DWORD, w.LPCWSTR, w.LPCWSTR, w.DWORD, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, w.HWND, w.HMENU, w.HINSTANCE, w.LPVOID]
    style = 0x10CF0000 | (0x20 if sys.argv[2] == "password" else 0)  # WS_OVERLAPPEDWINDOW|VISIBLE
    hwnd = u.CreateWindowExW(0, "EDIT", sys.argv[1], style, 100, 100, 400, 200,
                             None, None, None, None)
    # A synthetic Alt tap lifts the foreground lock for this process (documented behaviour of
    # SetForegroundWindow: the process received the last input event).
    u.keybd_event(0x12, 0, 0, 0); u.keybd_event(0x12, 0, 2, 0)
    u.SetForegroundWindow(hwnd); u.SetFocus(hwnd)
    print(hwnd, flush=True)
    def rename():
        for line in sys.stdin:
            u.SetWindowTextW(hwnd, line.strip())
    threading.Thread(target=rename, daemon=True).start()
    msg = w.MSG()
    while u.GetMessageW(ctypes.byref(msg), None, 0, 0) > 0:
        u.TranslateMessage(ctypes.byref(msg)); u.DispatchMessageW(ctypes.byref(msg))
    """
)


def _wait_for(q: queue.Queue[WindowInfo | None], pred, timeout: float = 5.0) -> WindowInfo:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            info = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(info)
        if info is not None and pred(info):
            return info
    raise AssertionError(f"no matching window event; saw {seen}")


def _require_foreground(hwnd: int, timeout: float = 3.0) -> None:
    import ctypes

    user32 = ctypes.WinDLL("user32")  # type: ignore[attr-defined]
    user32.GetForegroundWindow.restype = ctypes.c_void_p
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (user32.GetForegroundWindow() or 0) == hwnd:
            return
        time.sleep(0.05)
    pytest.skip("the test window could not take the foreground on this runner")


@pytest.fixture
def child_window() -> Iterator[Callable[[str, str], tuple[subprocess.Popen[str], int]]]:
    procs: list[subprocess.Popen[str]] = []

    def spawn(title: str, kind: str = "plain") -> tuple[subprocess.Popen[str], int]:
        p = subprocess.Popen(
            [sys.executable, "-c", _CHILD, title, kind],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        procs.append(p)
        assert p.stdout is not None
        hwnd = int(p.stdout.readline())
        _require_foreground(hwnd)
        return p, hwnd

    yield spawn
    for p in procs:
        p.kill()
        p.wait(5)


@on_windows
def test_real_desktop_capabilities() -> None:
    backend = select_backend()
    assert isinstance(backend, WindowsBackend)
    assert backend.windows_status() == OK
    assert backend.keyboard_status() == OK


@on_windows
def test_real_foreground_title_and_password_field(child_window) -> None:  # type: ignore[no-untyped-def]
    backend = WindowsBackend()
    events: queue.Queue[WindowInfo | None] = queue.Queue()
    source = backend.window_source()
    source.start(events.put)
    try:
        proc, hwnd = child_window("Lantern test window", "plain")
        info = _wait_for(events, lambda i: i.handle == hwnd)
        assert info.title == "Lantern test window" and info.pid == proc.pid
        assert info.process.lower().startswith("python") and not info.secure

        assert proc.stdin is not None
        proc.stdin.write("Renamed ✓\n")
        proc.stdin.flush()
        _wait_for(events, lambda i: i.handle == hwnd and i.title == "Renamed ✓")

        _pw, pw_hwnd = child_window("Sign in", "password")
        # Reported as secure once the edit control has the focus (the focus event follows).
        _wait_for(events, lambda i: i.handle == pw_hwnd and i.secure)
        assert source.status() == OK
    finally:
        t0 = time.monotonic()
        source.stop()
        assert time.monotonic() - t0 < 1.0
    assert source.status() == "unavailable: stopped"


@on_windows
def test_real_pid_is_ours_to_name() -> None:
    assert win.process_name(os.getpid()).lower().startswith("python")
