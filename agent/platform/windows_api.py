"""The few Win32 calls the Windows backend makes, through ctypes (no pywin32).

Everything Windows-only happens inside :class:`Win32Api`'s methods, so this module imports on any
platform; constructing :class:`Win32Api` off Windows raises :class:`OSError`. The backend logic
in :mod:`agent.platform.windows` talks only to an object with these methods, which tests replace
with a fake (there is no Windows machine in the development environment).

Only a real Windows session can verify this file: the prototypes, structure layouts and flags are
written from the Win32 documentation.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: ``(event, hwnd, id_object, id_child)`` from a WinEvent hook.
WinEventCallback = Callable[[int, int, int, int], None]

WINEVENT_OUTOFCONTEXT = 0x0000
WINEVENT_SKIPOWNPROCESS = 0x0002
WM_QUIT = 0x0012
PM_NOREMOVE = 0x0000
GWL_STYLE = -16
UOI_NAME = 2
DESKTOP_READOBJECTS = 0x0001


def _on_windows() -> bool:
    return sys.platform == "win32"


def _win(name: str) -> Any:
    """A Windows-only ctypes attribute (``WinDLL``, ``WINFUNCTYPE``) without upsetting mypy on
    Linux, where typeshed does not declare them."""
    return getattr(ctypes, name)


class Win32Api:
    """Real Win32 calls. One instance per window source; the hook methods must be called from
    the thread that runs :meth:`pump` (WinEvent hooks belong to the thread that set them)."""

    def __init__(self) -> None:
        # A call, not a bare ``sys.platform`` test: mypy on Linux would skip the rest as
        # unreachable and check none of it.
        if not _on_windows():
            raise OSError("not running on Windows")
        from ctypes import wintypes as w

        self._w: Any = w
        user32: Any = _win("WinDLL")("user32", use_last_error=True)
        kernel32: Any = _win("WinDLL")("kernel32", use_last_error=True)
        self._user32, self._kernel32 = user32, kernel32

        class GUITHREADINFO(ctypes.Structure):
            _fields_ = [
                ("cbSize", w.DWORD),
                ("flags", w.DWORD),
                ("hwndActive", w.HWND),
                ("hwndFocus", w.HWND),
                ("hwndCapture", w.HWND),
                ("hwndMenuOwner", w.HWND),
                ("hwndMoveSize", w.HWND),
                ("hwndCaret", w.HWND),
                ("rcCaret", w.RECT),
            ]

        self._GUITHREADINFO: Any = GUITHREADINFO
        self._WINEVENTPROC: Any = _win("WINFUNCTYPE")(
            None, w.HANDLE, w.DWORD, w.HWND, w.LONG, w.LONG, w.DWORD, w.DWORD
        )
        self._WNDENUMPROC: Any = _win("WINFUNCTYPE")(w.BOOL, w.HWND, w.LPARAM)
        proto = [
            (user32.GetForegroundWindow, [], w.HWND),
            (user32.GetWindowTextLengthW, [w.HWND], ctypes.c_int),
            (user32.GetWindowTextW, [w.HWND, w.LPWSTR, ctypes.c_int], ctypes.c_int),
            (user32.GetClassNameW, [w.HWND, w.LPWSTR, ctypes.c_int], ctypes.c_int),
            (user32.GetWindowThreadProcessId, [w.HWND, ctypes.POINTER(w.DWORD)], w.DWORD),
            (user32.GetGUIThreadInfo, [w.DWORD, ctypes.POINTER(GUITHREADINFO)], w.BOOL),
            (user32.GetWindowLongW, [w.HWND, ctypes.c_int], w.LONG),
            (user32.EnumChildWindows, [w.HWND, self._WNDENUMPROC, w.LPARAM], w.BOOL),
            (user32.OpenInputDesktop, [w.DWORD, w.BOOL, w.DWORD], w.HANDLE),
            (user32.CloseDesktop, [w.HANDLE], w.BOOL),
            (
                user32.GetUserObjectInformationW,
                [w.HANDLE, ctypes.c_int, ctypes.c_void_p, w.DWORD, ctypes.POINTER(w.DWORD)],
                w.BOOL,
            ),
            (
                user32.SetWinEventHook,
                [w.DWORD, w.DWORD, w.HMODULE, self._WINEVENTPROC, w.DWORD, w.DWORD, w.DWORD],
                w.HANDLE,
            ),
            (user32.UnhookWinEvent, [w.HANDLE], w.BOOL),
            (user32.GetMessageW, [ctypes.POINTER(w.MSG), w.HWND, w.UINT, w.UINT], ctypes.c_int),
            (
                user32.PeekMessageW,
                [ctypes.POINTER(w.MSG), w.HWND, w.UINT, w.UINT, w.UINT],
                w.BOOL,
            ),
            (user32.TranslateMessage, [ctypes.POINTER(w.MSG)], w.BOOL),
            (user32.DispatchMessageW, [ctypes.POINTER(w.MSG)], ctypes.c_ssize_t),
            (user32.PostThreadMessageW, [w.DWORD, w.UINT, w.WPARAM, w.LPARAM], w.BOOL),
            (kernel32.GetCurrentThreadId, [], w.DWORD),
            (kernel32.GetCurrentProcessId, [], w.DWORD),
            (kernel32.ProcessIdToSessionId, [w.DWORD, ctypes.POINTER(w.DWORD)], w.BOOL),
        ]
        for fn, argtypes, restype in proto:
            fn.argtypes = argtypes
            fn.restype = restype
        # ctypes callbacks must outlive their hooks, or Windows calls freed memory.
        self._procs: dict[int, Any] = {}
        self._uia: Any = None  # None: not tried yet; False: unavailable

    # ------------------------------------------------------------------ windows and processes

    def foreground_window(self) -> int:
        return int(self._user32.GetForegroundWindow() or 0)

    def window_text(self, hwnd: int) -> str:
        # For another process's window this reads the caption Windows keeps and sends no
        # WM_GETTEXT, so a hung application cannot block us.
        n = self._user32.GetWindowTextLengthW(hwnd)
        if n <= 0:
            return ""
        buf = ctypes.create_unicode_buffer(n + 1)
        self._user32.GetWindowTextW(hwnd, buf, n + 1)
        return buf.value

    def class_name(self, hwnd: int) -> str:
        buf = ctypes.create_unicode_buffer(257)
        n = self._user32.GetClassNameW(hwnd, buf, 257)
        return buf.value if n > 0 else ""

    def window_thread_process(self, hwnd: int) -> tuple[int, int]:
        pid = self._w.DWORD()
        tid = self._user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        return int(tid), int(pid.value)

    def child_windows(self, hwnd: int) -> list[int]:
        """The descendants of ``hwnd`` (for UWP frames: the hosted app's window is one)."""
        found: list[int] = []

        def collect(child: Any, _lparam: Any) -> bool:
            found.append(int(child or 0))
            return len(found) < 256

        self._user32.EnumChildWindows(hwnd, self._WNDENUMPROC(collect), 0)
        return [c for c in found if c]

    def focused_control(self, thread_id: int) -> int:
        info = self._GUITHREADINFO()
        info.cbSize = ctypes.sizeof(info)
        if not self._user32.GetGUIThreadInfo(thread_id, ctypes.byref(info)):
            return 0
        return int(info.hwndFocus or 0)

    def window_style(self, hwnd: int) -> int:
        return int(self._user32.GetWindowLongW(hwnd, GWL_STYLE)) & 0xFFFFFFFF

    def focused_is_password(self) -> bool | None:
        """UI Automation's ``IsPassword`` for the focused element, or ``None`` when UI Automation
        (comtypes) is unavailable or did not answer. Works for browser fields, which are not
        Win32 controls, once the browser has its accessibility tree on (a UIA client turns it on).
        """
        if self._uia is False:
            return None
        try:
            if self._uia is None:
                self._uia = _create_uia()
            element = self._uia.GetFocusedElement()
            return bool(element.CurrentIsPassword)
        except Exception as exc:
            if self._uia is None:
                log.info("UI Automation unavailable (%s): using Win32 edit styles", exc)
                self._uia = False
            return None

    # ------------------------------------------------------------------ session and desktop

    def session_id(self) -> int | None:
        sid = self._w.DWORD()
        pid = self._kernel32.GetCurrentProcessId()
        if not self._kernel32.ProcessIdToSessionId(pid, ctypes.byref(sid)):
            return None
        return int(sid.value)

    def input_desktop_name(self) -> str | None:
        """The desktop receiving input ("Default" normally, "Winlogon" for the lock screen and
        UAC's secure desktop), or ``None`` when it cannot be opened (which the secure desktop
        also causes)."""
        handle = self._user32.OpenInputDesktop(0, False, DESKTOP_READOBJECTS)
        if not handle:
            return None
        try:
            buf = ctypes.create_unicode_buffer(256)
            needed = self._w.DWORD()
            ok = self._user32.GetUserObjectInformationW(
                handle, UOI_NAME, buf, ctypes.sizeof(buf), ctypes.byref(needed)
            )
            return buf.value if ok else None
        finally:
            self._user32.CloseDesktop(handle)

    # ------------------------------------------------------------------ hooks and the loop

    def current_thread_id(self) -> int:
        return int(self._kernel32.GetCurrentThreadId())

    def ensure_message_queue(self) -> None:
        """Make Windows create this thread's message queue, so PostThreadMessageW can reach it."""
        msg = self._w.MSG()
        self._user32.PeekMessageW(ctypes.byref(msg), None, 0, 0, PM_NOREMOVE)

    def set_hook(self, event_min: int, event_max: int, pid: int, callback: WinEventCallback) -> int:
        """``SetWinEventHook`` out of context for ``pid`` (0: every process but ours); 0 on
        failure. ``callback`` runs on this thread, inside :meth:`pump`."""

        def proc(
            _hook: Any, event: int, hwnd: Any, id_object: int, id_child: int, _tid: int, _t: int
        ) -> None:
            try:
                callback(int(event), int(hwnd or 0), int(id_object), int(id_child))
            except Exception:  # an exception must never unwind into user32
                log.exception("WinEvent callback failed")

        cproc = self._WINEVENTPROC(proc)
        flags = WINEVENT_OUTOFCONTEXT | WINEVENT_SKIPOWNPROCESS
        handle = self._user32.SetWinEventHook(event_min, event_max, None, cproc, pid, 0, flags)
        if not handle:
            return 0
        self._procs[int(handle)] = cproc
        return int(handle)

    def unhook(self, handle: int) -> None:
        self._user32.UnhookWinEvent(handle)
        self._procs.pop(handle, None)

    def pump(self) -> bool:
        """Wait for and dispatch one message (WinEvent callbacks run in here); False on WM_QUIT
        or an error."""
        msg = self._w.MSG()
        r = self._user32.GetMessageW(ctypes.byref(msg), None, 0, 0)
        if r == 0 or r == -1:
            return False
        self._user32.TranslateMessage(ctypes.byref(msg))
        self._user32.DispatchMessageW(ctypes.byref(msg))
        return True

    def post_quit(self, thread_id: int) -> bool:
        return bool(self._user32.PostThreadMessageW(thread_id, WM_QUIT, 0, 0))

    def last_error(self) -> int:
        return int(_win("get_last_error")())


def _create_uia() -> Any:
    """A UI Automation client through comtypes (optional dependency), with short timeouts so a
    hung application cannot stall the window watcher for UIA's default 20 s."""
    import comtypes
    import comtypes.client

    try:
        comtypes.CoInitializeEx()  # this thread; harmless if COM is already initialised here
    except OSError:
        pass
    comtypes.client.GetModule("UIAutomationCore.dll")
    from comtypes.gen import UIAutomationClient as uia_mod

    uia = comtypes.client.CreateObject(uia_mod.CUIAutomation, interface=uia_mod.IUIAutomation)
    try:
        uia2 = uia.QueryInterface(uia_mod.IUIAutomation2)
        uia2.ConnectionTimeout = 500
        uia2.TransactionTimeout = 500
        uia = uia2
    except Exception:  # Windows 7: no IUIAutomation2, default timeouts
        pass
    return uia
