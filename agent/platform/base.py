"""The small interface every platform backend (X11, Windows, macOS) implements.

A backend answers two questions for the observers above it: *which window has focus and what is
its title* (a :class:`WindowSource` pushing :class:`WindowInfo` on every change) and *can the
keyboard be observed here* (:meth:`PlatformBackend.keyboard_status`). Key capture is pynput's
listener in :mod:`agent.observe.keyboard` unless the backend has a cheaper :class:`KeySource` of
its own (X11: the lean RECORD reader, the default there); the checks that keep capture from
hanging or failing silently (X RECORD, macOS Input Monitoring) are per platform.

Every status is a capability string as sent on the wire: ``"ok"`` or ``"unavailable: <why>"``.
Backends never raise out of their threads and never block without a timeout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

OK = "ok"


def unavailable(reason: str) -> str:
    """The capability string for a blind sampler; ``reason`` is short and human-readable."""
    return f"unavailable: {reason}"


@dataclass(frozen=True)
class WindowInfo:
    """The focused top-level window as the platform sees it.

    ``handle`` identifies the window for as long as it exists (an X window id, an HWND, a
    CGWindowID) and is what "focus changed" means. ``process`` is the executable name from psutil,
    ``app_class`` the platform's application class (X11 ``WM_CLASS`` class, a bundle id) — both may
    be empty when unknown. ``secure`` is set when the platform itself says input here is secret
    (a password field, macOS Secure Event Input, a lock screen).
    """

    handle: int
    title: str
    pid: int | None = None
    process: str = ""
    app_class: str = ""
    app_instance: str = ""
    secure: bool = False


#: Called by a :class:`WindowSource` from its own thread; ``None`` means nothing has focus.
WindowCallback = Callable[[WindowInfo | None], None]


class WindowSource(Protocol):
    """Pushes the focused window to a callback whenever the window or its title changes."""

    def start(self, on_change: WindowCallback) -> None:
        """Start watching (non-blocking). Calls ``on_change`` once with the current window."""
        ...

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching; returns within about ``timeout`` seconds even if the platform hangs."""
        ...

    def status(self) -> str:
        """``"ok"`` while watching, else ``"unavailable: <why>"``."""
        ...


class KeySource(Protocol):
    """A platform's own key capture, used instead of pynput where it is cheaper.

    A source with a true ``direct`` attribute runs the callback on a thread that does nothing
    else, so the observer may do the key's work there rather than queue it.
    """

    def start(self, on_key: Callable[[Any, bool, float], None]) -> str:
        """Start (non-blocking); returns the keyboard capability string."""
        ...

    def stop(self, timeout: float = 2.0) -> None: ...

    def status(self) -> str: ...


class PlatformBackend(Protocol):
    """One desktop platform: window focus and the preconditions for keyboard capture."""

    name: str

    def window_source(self) -> WindowSource:
        """A new, unstarted window source."""
        ...

    def windows_status(self) -> str:
        """Whether window focus can be observed at all, checked without starting anything."""
        ...

    def keyboard_status(self) -> str:
        """Whether pynput can observe the keyboard here, checked without starting a listener."""
        ...

    def prepare_keyboard(self) -> None:
        """Make the process ready for ``import pynput.keyboard`` (e.g. set ``DISPLAY`` on X11)."""
        ...

    def attach_keyboard(self, listener: Any) -> None:
        """Hand over a started pynput listener for platform upkeep (X11: keymap refreshes)."""
        ...

    def key_source(self) -> KeySource | None:
        """The platform's own key capture, or ``None`` to use pynput."""
        ...

    def detach_keyboard(self, listener: Any) -> None:
        """Take back a listener handed over with :meth:`attach_keyboard` (before stopping it)."""
        ...

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        """The character AltGr (+Shift) gives on the key whose base symbol is ``keysym``, where
        pynput does not report it itself (X11); ``None`` elsewhere."""
        ...


class UnavailableBackend:
    """A backend for a platform we cannot observe: every capability is unavailable, nothing runs."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def window_source(self) -> WindowSource:
        return _NullWindowSource(self.reason)

    def windows_status(self) -> str:
        return unavailable(self.reason)

    def keyboard_status(self) -> str:
        return unavailable(self.reason)

    def prepare_keyboard(self) -> None:
        return None

    def attach_keyboard(self, listener: Any) -> None:
        return None

    def detach_keyboard(self, listener: Any) -> None:
        return None

    def key_source(self) -> KeySource | None:
        return None

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        return None


class _NullWindowSource:
    def __init__(self, reason: str) -> None:
        self._reason = reason

    def start(self, on_change: WindowCallback) -> None:
        return None

    def stop(self, timeout: float = 2.0) -> None:
        return None

    def status(self) -> str:
        return unavailable(self._reason)


def is_wayland_session(env: dict[str, str] | None = None) -> bool:
    """True in a Wayland session, where X11 sees only XWayland clients (a partial, misleading view)."""
    env = dict(os.environ) if env is None else env
    return env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or (
        bool(env.get("WAYLAND_DISPLAY")) and not env.get("LANTERN_ALLOW_XWAYLAND")
    )


def select_backend(display: str | None = None, *, platform: str | None = None) -> PlatformBackend:
    """The backend for this machine. Never raises: an unsupported setup is an unavailable backend.

    ``display`` overrides ``$DISPLAY`` on X11 (tests run their own Xvfb).
    """
    platform = platform or sys.platform
    if platform.startswith("linux") or platform.startswith("freebsd"):
        if display is None and is_wayland_session():
            return UnavailableBackend("wayland", "Wayland session (X11 capture would be partial)")
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            return UnavailableBackend("x11", "no DISPLAY (no graphical session)")
        from agent.platform.x11 import X11Backend

        return X11Backend(name)
    if platform == "win32":
        from agent.platform.windows import WindowsBackend

        return WindowsBackend()
    if platform == "darwin":
        from agent.platform.macos import MacOSBackend

        return MacOSBackend()
    return UnavailableBackend(platform, f"unsupported platform {platform}")


class WakePipe:
    """Wakes a thread sleeping in ``select()`` on :attr:`r` (to stop it) without a timeout."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()

    def wake(self) -> None:
        if self.w >= 0:
            try:
                os.write(self.w, b"x")
            except OSError:
                pass

    def close(self) -> None:
        for fd in (self.r, self.w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.r = self.w = -1


def process_name(pid: int | None) -> str:
    """The executable name for ``pid`` ("xterm", "chrome.exe", "Safari"; "" when unknown, gone
    or not ours to see). One helper for every backend: psutil answers on all three."""
    if not pid:
        return ""
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return ""
