"""The few macOS calls the macOS backend makes: pyobjc (AppKit, Quartz, ApplicationServices),
imported lazily, and ctypes for two C functions pyobjc does not wrap (IOKit's
``IOHIDCheckAccess``, Carbon's ``IsSecureEventInputEnabled``).

This module imports on any platform; constructing :class:`MacApi` off macOS raises
:class:`OSError`, and without pyobjc :class:`ImportError`. The logic in
:mod:`agent.platform.macos` talks only to an object with these methods, which tests replace with
a fake (there is no Mac in the development environment). Only a real macOS session can verify
this file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# IOHIDCheckAccess (IOKit/hid/IOHIDLib.h, macOS 10.15+)
IOHID_REQUEST_LISTEN_EVENT = 1
ACCESS_GRANTED, ACCESS_DENIED, ACCESS_UNKNOWN = 0, 1, 2

_IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
_CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"
_COREGRAPHICS = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
_AX_TIMEOUT_S = 0.5  # AX's default is 6 s per call to a hung application


def _on_macos() -> bool:
    return sys.platform == "darwin"


class MacApi:
    """Real macOS calls. Safe to call from any thread (none of these need the main thread)."""

    def __init__(self) -> None:
        if not _on_macos():
            raise OSError("not running on macOS")
        import AppKit
        import ApplicationServices
        import Quartz

        self._appkit: Any = AppKit
        self._ax: Any = ApplicationServices
        self._quartz: Any = Quartz
        self._iokit: Any = _load(_IOKIT)
        self._carbon: Any = _load(_CARBON)
        self._check_access: Any = getattr(self._iokit, "IOHIDCheckAccess", None)
        if self._check_access is not None:
            self._check_access.argtypes = [ctypes.c_uint32]
            self._check_access.restype = ctypes.c_uint32
        self._secure_input: Any = getattr(self._carbon, "IsSecureEventInputEnabled", None)
        if self._secure_input is not None:
            self._secure_input.argtypes = []
            self._secure_input.restype = ctypes.c_bool
        self._system_wide: Any = None

    # ------------------------------------------------------------------ permissions

    def screen_capture_access(self) -> bool | None:
        """``CGPreflightScreenCaptureAccess`` (10.15+; ``None`` before, when titles are free).
        Never prompts."""
        fn = getattr(self._quartz, "CGPreflightScreenCaptureAccess", None)
        if fn is None:  # an older pyobjc on a newer macOS: call CoreGraphics directly
            fn = getattr(_load(_COREGRAPHICS), "CGPreflightScreenCaptureAccess", None)
            if fn is not None:
                fn.argtypes, fn.restype = [], ctypes.c_bool
        return None if fn is None else bool(fn())

    def accessibility_trusted(self) -> bool:
        """``AXIsProcessTrusted``. Never prompts."""
        return bool(self._ax.AXIsProcessTrusted())

    def input_monitoring_access(self) -> int | None:
        """``IOHIDCheckAccess(kIOHIDRequestTypeListenEvent)``: 0 granted, 1 denied, 2 not yet
        asked; ``None`` before 10.15, where there is no such permission."""
        if self._check_access is None:
            return None
        return int(self._check_access(IOHID_REQUEST_LISTEN_EVENT))

    def secure_input_enabled(self) -> bool:
        """Carbon's ``IsSecureEventInputEnabled``: a password field (or Terminal's Secure Keyboard
        Entry) is taking the keyboard, and event taps get nothing."""
        return bool(self._secure_input()) if self._secure_input is not None else False

    def screen_locked(self) -> bool:
        session = self._quartz.CGSessionCopyCurrentDictionary()
        return bool(session and session.get("CGSSessionScreenIsLocked", False))

    # ------------------------------------------------------------------ windows and apps

    def window_list(self) -> list[dict[str, Any]]:
        """On-screen windows, front to back, as plain dicts keyed by the ``kCGWindow…`` names.
        ``kCGWindowName`` is missing for other apps' windows without Screen Recording."""
        q = self._quartz
        options = q.kCGWindowListOptionOnScreenOnly | q.kCGWindowListExcludeDesktopElements
        raw = q.CGWindowListCopyWindowInfo(options, q.kCGNullWindowID) or []
        keys = (
            "kCGWindowNumber",
            "kCGWindowOwnerPID",
            "kCGWindowOwnerName",
            "kCGWindowName",
            "kCGWindowLayer",
        )
        return [{k: w.get(k) for k in keys if w.get(k) is not None} for w in raw]

    def frontmost_pid(self) -> int | None:
        """The focused application from Accessibility (current from any thread), or ``None``
        without that permission: NSWorkspace's ``frontmostApplication`` is only refreshed by
        the main thread's run loop, which the agent does not run."""
        if not self.accessibility_trusted():
            return None
        ax = self._ax
        err, app = ax.AXUIElementCopyAttributeValue(
            self._system(), ax.kAXFocusedApplicationAttribute, None
        )
        if err != 0 or app is None:
            return None
        err, pid = ax.AXUIElementGetPid(app, None)
        return int(pid) if err == 0 else None

    def focused_window_title(self, pid: int) -> str | None:
        """The focused window's title through Accessibility (no Screen Recording needed)."""
        if not self.accessibility_trusted():
            return None
        ax = self._ax
        app = ax.AXUIElementCreateApplication(pid)
        ax.AXUIElementSetMessagingTimeout(app, _AX_TIMEOUT_S)
        err, window = ax.AXUIElementCopyAttributeValue(app, ax.kAXFocusedWindowAttribute, None)
        if err != 0 or window is None:
            return None
        err, title = ax.AXUIElementCopyAttributeValue(window, ax.kAXTitleAttribute, None)
        return str(title) if err == 0 and title is not None else None

    def app_info(self, pid: int) -> tuple[str, str]:
        """(localized name, bundle id) of a running application, "" where unknown."""
        app = self._appkit.NSRunningApplication.runningApplicationWithProcessIdentifier_(pid)
        if app is None:
            return "", ""
        return str(app.localizedName() or ""), str(app.bundleIdentifier() or "")

    # ------------------------------------------------------------------ activation

    def watch_activation(self, callback: Callable[[], None]) -> Any:
        """Call ``callback`` on NSWorkspace's did-activate-application notification. A wake-up
        only: NSWorkspace posts it from the main thread's run loop, so it may never come."""
        appkit = self._appkit
        center = appkit.NSWorkspace.sharedWorkspace().notificationCenter()

        def block(_note: Any) -> None:
            try:
                callback()
            except Exception:
                log.exception("activation callback failed")

        return center.addObserverForName_object_queue_usingBlock_(
            appkit.NSWorkspaceDidActivateApplicationNotification, None, None, block
        )

    def unwatch_activation(self, token: Any) -> None:
        center = self._appkit.NSWorkspace.sharedWorkspace().notificationCenter()
        center.removeObserver_(token)

    def _system(self) -> Any:
        if self._system_wide is None:
            ax = self._ax
            self._system_wide = ax.AXUIElementCreateSystemWide()
            ax.AXUIElementSetMessagingTimeout(self._system_wide, _AX_TIMEOUT_S)
        return self._system_wide


def _load(path: str) -> Any:
    try:
        return ctypes.CDLL(path)
    except OSError:
        name = ctypes.util.find_library(path.rsplit("/", 1)[-1])
        try:
            return ctypes.CDLL(name) if name else None
        except OSError:
            return None
