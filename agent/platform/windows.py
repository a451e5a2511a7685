"""Windows backend: WinEvent hooks for focus and titles, ctypes only (no pywin32).

One daemon thread owns a message loop (``GetMessageW``) and the WinEvent hooks, all out of
context (``WINEVENT_OUTOFCONTEXT``: nothing is injected into other processes):

* ``EVENT_SYSTEM_FOREGROUND`` and ``EVENT_SYSTEM_DESKTOPSWITCH`` for every process: a new
  foreground window, or the input desktop switching to the lock screen / UAC secure desktop;
* ``EVENT_OBJECT_NAMECHANGE`` and ``EVENT_OBJECT_FOCUS`` only for the foreground window's
  process, re-hooked on every foreground change: system-wide they fire thousands of times a
  minute (clocks, tab strips), for one process only when it renames or moves focus.

On each relevant event the foreground window (``GetForegroundWindow``), its title
(``GetWindowTextW``) and process (``GetWindowThreadProcessId`` → psutil) are read and a
:class:`~agent.platform.base.WindowInfo` reported when window, title or secrecy changed.
:meth:`WindowsWindowSource.stop` posts ``WM_QUIT`` to the loop thread.

No capture (``secure=True``):

* the input desktop is not ``Default`` or cannot be opened: the lock screen, sign-in and UAC
  prompts run on the ``Winlogon`` secure desktop;
* the focused control is a password field: UI Automation's ``IsPassword`` through comtypes where
  installed, else a Win32 edit control with ``ES_PASSWORD`` found with ``GetGUIThreadInfo``.
  Browsers draw their own controls, so without UI Automation a browser password field is *not*
  detected by this (docs/agent.md, "Windows and macOS backends").

Keys come from pynput's win32 backend (a low-level keyboard hook), unchanged. All OS calls go
through a :class:`~agent.platform.windows_api.Win32Api`-shaped object that tests replace.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from agent.platform.base import OK, KeySource, WindowCallback, WindowInfo, process_name, unavailable
from agent.platform.windows_api import WinEventCallback

log = logging.getLogger(__name__)

EVENT_SYSTEM_FOREGROUND = 0x0003
EVENT_SYSTEM_DESKTOPSWITCH = 0x0020
EVENT_OBJECT_FOCUS = 0x8005
EVENT_OBJECT_NAMECHANGE = 0x800C
OBJID_WINDOW = 0
CHILDID_SELF = 0
ES_PASSWORD = 0x0020

UWP_FRAME_HOST = "applicationframehost.exe"
#: The handle reported while the secure desktop (lock screen, UAC) has the input.
SECURE_DESKTOP_HANDLE = -1
_CACHE_SIZE = 64


class Win32Like(Protocol):
    """What the backend needs from Windows; :class:`~agent.platform.windows_api.Win32Api` or a
    test fake."""

    def foreground_window(self) -> int: ...
    def window_text(self, hwnd: int) -> str: ...
    def class_name(self, hwnd: int) -> str: ...
    def window_thread_process(self, hwnd: int) -> tuple[int, int]: ...
    def child_windows(self, hwnd: int) -> list[int]: ...
    def focused_control(self, thread_id: int) -> int: ...
    def window_style(self, hwnd: int) -> int: ...
    def focused_is_password(self) -> bool | None: ...
    def session_id(self) -> int | None: ...
    def input_desktop_name(self) -> str | None: ...
    def current_thread_id(self) -> int: ...
    def ensure_message_queue(self) -> None: ...
    def set_hook(
        self, event_min: int, event_max: int, pid: int, callback: WinEventCallback
    ) -> int: ...
    def unhook(self, handle: int) -> None: ...
    def pump(self) -> bool: ...
    def post_quit(self, thread_id: int) -> bool: ...
    def last_error(self) -> int: ...


ApiFactory = Callable[[], Win32Like]


def _real_api() -> Win32Like:
    from agent.platform.windows_api import Win32Api

    return Win32Api()


class WindowsBackend:
    """The Windows platform backend. ``api`` builds the OS-call object (a fake in tests)."""

    name = "windows"

    def __init__(self, api: ApiFactory | None = None) -> None:
        self._api_factory = api or _real_api
        self._probe: Win32Like | None = None
        self._probe_error = ""

    def _probe_api(self) -> Win32Like | None:
        """One API object for status checks (made lazily: constructing it loads user32)."""
        if self._probe is None and not self._probe_error:
            try:
                self._probe = self._api_factory()
            except Exception as exc:  # not Windows, or user32 missing something
                self._probe_error = str(exc) or type(exc).__name__
        return self._probe

    def window_source(self) -> WindowsWindowSource:
        return WindowsWindowSource(self._api_factory)

    def windows_status(self) -> str:
        api = self._probe_api()
        if api is None:
            return unavailable(self._probe_error)
        try:
            session = api.session_id()
        except Exception as exc:
            return unavailable(f"cannot read the session ({type(exc).__name__})")
        if session == 0:
            return unavailable("session 0 (a service) has no interactive desktop")
        return OK

    def keyboard_status(self) -> str:
        status = self.windows_status()
        if status != OK:
            return status
        if importlib.util.find_spec("pynput") is None:
            return unavailable("pynput is not installed")
        return OK

    def prepare_keyboard(self) -> None:
        return None

    def attach_keyboard(self, listener: Any) -> None:
        return None

    def detach_keyboard(self, listener: Any) -> None:
        return None

    def key_source(self) -> KeySource | None:
        return None  # pynput's win32 listener

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        return None  # pynput's win32 backend reports the AltGr character itself


class WindowsWindowSource:
    """Watches the foreground window and its title from a message-loop thread."""

    def __init__(self, api_factory: ApiFactory) -> None:
        self._api_factory = api_factory
        self._api: Win32Like | None = None
        self._thread: threading.Thread | None = None
        self._thread_id = 0
        self._ready = threading.Event()  # the loop thread has its message queue (or failed)
        self._stopping = threading.Event()
        self._status = unavailable("not started")
        self._on_change: WindowCallback | None = None
        self._last: tuple[int, str, bool] | None = None
        self._global_hooks: list[int] = []
        self._process_hooks: list[int] = []
        self._hooked: frozenset[int] = frozenset()  # processes with title/focus hooks
        self._foreground = 0
        self._foreground_pids: frozenset[int] = frozenset()  # the window's and its app's
        # (hwnd, pid) -> (app pid, process name); they differ for UWP apps
        self._static: OrderedDict[tuple[int, int], tuple[int, str]] = OrderedDict()

    # ---------------------------------------------------------------- public interface

    def start(self, on_change: WindowCallback) -> None:
        if self._thread is not None:
            return
        self._on_change = on_change
        self._status = OK
        self._thread = threading.Thread(target=self._run, name="lantern-win-windows", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            self._ready.wait(max(0.0, deadline - time.monotonic()))
            api = self._api
            # PostThreadMessageW fails until the thread has a queue; retry briefly.
            while thread.is_alive() and api is not None and time.monotonic() < deadline:
                try:
                    posted = api.post_quit(self._thread_id)
                except Exception:
                    posted = False
                thread.join(0.05 if not posted else max(0.0, min(0.5, deadline - time.monotonic())))
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("windows window watcher did not stop within %.1fs", timeout)
        if self._status == OK:
            self._status = unavailable("stopped")

    def status(self) -> str:
        if self._status == OK and self._thread is not None and not self._thread.is_alive():
            return unavailable("window watcher stopped")
        return self._status

    # ---------------------------------------------------------------- the loop thread

    def _run(self) -> None:
        api: Win32Like | None = None
        try:
            api = self._api = self._api_factory()
        except Exception as exc:  # not Windows, or user32 lacks a function
            self._status = unavailable(str(exc) or type(exc).__name__)
            self._ready.set()
            return
        try:
            self._thread_id = api.current_thread_id()
            api.ensure_message_queue()
            for event in (EVENT_SYSTEM_FOREGROUND, EVENT_SYSTEM_DESKTOPSWITCH):
                handle = api.set_hook(event, event, 0, self._on_event)
                if not handle:
                    self._status = unavailable(f"SetWinEventHook failed (error {api.last_error()})")
                    return
                self._global_hooks.append(handle)
            self._ready.set()
            if self._stopping.is_set():
                return
            self._refresh()
            while not self._stopping.is_set() and api.pump():
                pass
        except Exception as exc:  # report, never crash the agent
            if not self._stopping.is_set():
                log.warning("windows window watcher failed: %s", type(exc).__name__)
                self._status = unavailable(f"window watcher failed ({type(exc).__name__})")
        finally:
            self._ready.set()
            if api is not None:
                for handle in [*self._process_hooks, *self._global_hooks]:
                    try:
                        api.unhook(handle)
                    except Exception:
                        pass
            self._process_hooks, self._global_hooks = [], []

    def _on_event(self, event: int, hwnd: int, id_object: int, id_child: int) -> None:
        if self._stopping.is_set():
            return
        # Only the foreground window's own caption; controls and tabs rename constantly.
        if event == EVENT_OBJECT_NAMECHANGE and (
            hwnd != self._foreground or id_object != OBJID_WINDOW or id_child != CHILDID_SELF
        ):
            return
        self._refresh()

    def _refresh(self) -> None:
        try:
            self._refresh_once()
        except Exception as exc:  # a window vanished mid-read: the next event retries
            log.debug("window refresh failed: %s", type(exc).__name__)

    def _refresh_once(self) -> None:
        api = self._api
        assert api is not None
        info = self._read(api)
        self._rehook(api, self._foreground_pids)
        key = (info.handle, info.title, info.secure) if info is not None else None
        if key == self._last:
            return
        self._last = key
        if self._on_change is not None:
            try:
                self._on_change(info)
            except Exception:
                log.exception("window callback failed")

    def _read(self, api: Win32Like) -> WindowInfo | None:
        desktop = api.input_desktop_name()
        if desktop is None or desktop.lower() != "default":
            # The lock screen, sign-in or a UAC prompt has the keyboard (or we cannot tell):
            # report it as a secure "window" so nothing typed now is captured.
            self._foreground, self._foreground_pids = 0, frozenset()
            return WindowInfo(
                handle=SECURE_DESKTOP_HANDLE,
                title="",
                app_class=f"desktop:{desktop or 'secure'}",
                secure=True,
            )
        hwnd = api.foreground_window()
        self._foreground, self._foreground_pids = hwnd, frozenset()
        if not hwnd:
            return None
        _tid, pid = api.window_thread_process(hwnd)
        title = api.window_text(hwnd)
        static = self._static.get((hwnd, pid))
        if static is None:
            static = (pid, process_name(pid))
            if static[1].lower() == UWP_FRAME_HOST:
                hosted = self._hosted_app(api, hwnd, pid)
                static = hosted or static
            if static[1].lower() != UWP_FRAME_HOST:  # a frame still starting: ask again
                self._static[(hwnd, pid)] = static
                while len(self._static) > _CACHE_SIZE:
                    self._static.popitem(last=False)
        app_pid, process = static
        # The frame's process renames the window, a UWP app's own process moves the focus.
        self._foreground_pids = frozenset(p for p in (pid, app_pid) if p)
        return WindowInfo(
            handle=hwnd,
            title=title,
            pid=app_pid or None,
            process=process,
            secure=self._password_focused(api),
        )

    def _hosted_app(self, api: Win32Like, hwnd: int, frame_pid: int) -> tuple[int, str] | None:
        """A UWP app's window belongs to ApplicationFrameHost.exe; the app's own process owns
        a child window of that frame (Calculator.exe, SystemSettings.exe…)."""
        for child in api.child_windows(hwnd):
            _tid, pid = api.window_thread_process(child)
            if pid and pid != frame_pid:
                return pid, process_name(pid)
        return None

    def _password_focused(self, api: Win32Like) -> bool:
        """Whether the focused control takes a password. Errs towards True on either signal."""
        try:
            if api.focused_is_password():
                return True
        except Exception as exc:
            log.debug("UI Automation check failed: %s", type(exc).__name__)
        # Thread 0: the foreground thread (for UWP apps not the frame's, which owns the hwnd).
        control = api.focused_control(0)
        if not control:
            return False
        # ES_PASSWORD (0x20) means something else for other classes (BS_LEFTTEXT on buttons),
        # so it counts only on edit controls: Edit, RichEdit20W, WindowsForms10.EDIT…, TEdit.
        return "edit" in api.class_name(control).lower() and bool(
            api.window_style(control) & ES_PASSWORD
        )

    def _rehook(self, api: Win32Like, pids: frozenset[int]) -> None:
        """Follow title and focus changes in the foreground window's process(es) only."""
        if pids == self._hooked:
            return
        for handle in self._process_hooks:
            try:
                api.unhook(handle)
            except Exception:
                pass
        self._process_hooks = []
        self._hooked = pids
        for pid in sorted(pids):
            for event in (EVENT_OBJECT_FOCUS, EVENT_OBJECT_NAMECHANGE):
                handle = api.set_hook(event, event, pid, self._on_event)
                if handle:
                    self._process_hooks.append(handle)
                else:  # the process exited meanwhile, or is protected: foreground events work
                    log.debug("per-process WinEvent hook failed for pid %d", pid)
