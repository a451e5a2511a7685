"""macOS backend: the Quartz window list and Accessibility for focus and titles (pyobjc, lazy).

macOS has no cheap "title changed" event for other applications' windows without an
Accessibility observer per application, so one daemon thread re-reads the focused window once a
second (``poll_s``) and whenever NSWorkspace's did-activate-application notification arrives
(a wake-up only: NSWorkspace posts it from the main thread's run loop). A reading:

* the focused application: Accessibility's focused application where the agent is trusted,
  else the owner of the frontmost normal (layer 0) window in ``CGWindowListCopyWindowInfo``;
* its front window from that list: the ``CGWindowID`` is the handle, ``kCGWindowName`` the
  title. Since 10.15 other apps' titles are there only with Screen Recording permission
  (``CGPreflightScreenCaptureAccess``); with Accessibility the focused window's ``AXTitle`` is
  used instead, which needs no Screen Recording (and, unlike it, can be granted by an MDM
  profile). With neither, windows are reported without titles and the windows capability is
  ``"unavailable: screen recording permission not granted"``;
* ``secure=True`` while Secure Event Input is on (``IsSecureEventInputEnabled``: a password
  field, or Terminal's Secure Keyboard Entry; event taps then get no keys anyway) and while the
  screen is locked (``CGSSessionScreenIsLocked``).

Keys come from pynput's Quartz event tap, which needs Input Monitoring (``IOHIDCheckAccess``) or
Accessibility (``AXIsProcessTrusted``); :meth:`MacOSBackend.keyboard_status` says which is
missing instead of starting a tap that silently sees nothing.

All OS calls go through a :class:`~agent.platform.macos_api.MacApi`-shaped object that tests
replace.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from agent.platform.base import OK, KeySource, WindowCallback, WindowInfo, process_name, unavailable

log = logging.getLogger(__name__)

POLL_S = 1.0
#: The handle reported while the screen is locked.
LOCKED_HANDLE = -1
_CACHE_SIZE = 64
_GRANTED, _DENIED = 0, 1

NO_SCREEN_RECORDING = unavailable("screen recording permission not granted")
NO_INPUT_MONITORING = unavailable("input monitoring permission not granted")
NO_ACCESSIBILITY = unavailable("accessibility permission not granted")


class MacLike(Protocol):
    """What the backend needs from macOS; :class:`~agent.platform.macos_api.MacApi` or a fake."""

    def screen_capture_access(self) -> bool | None: ...
    def accessibility_trusted(self) -> bool: ...
    def input_monitoring_access(self) -> int | None: ...
    def secure_input_enabled(self) -> bool: ...
    def screen_locked(self) -> bool: ...
    def window_list(self) -> list[dict[str, Any]]: ...
    def frontmost_pid(self) -> int | None: ...
    def focused_window_title(self, pid: int) -> str | None: ...
    def app_info(self, pid: int) -> tuple[str, str]: ...
    def watch_activation(self, callback: Callable[[], None]) -> Any: ...
    def unwatch_activation(self, token: Any) -> None: ...


ApiFactory = Callable[[], MacLike]


def _real_api() -> MacLike:
    from agent.platform.macos_api import MacApi

    return MacApi()


def windows_capability(api: MacLike) -> str:
    """Titles are readable with Screen Recording (window list) or Accessibility (AXTitle)."""
    if api.screen_capture_access() is False and not api.accessibility_trusted():
        return NO_SCREEN_RECORDING
    return OK


def keyboard_capability(api: MacLike) -> str:
    """pynput's event tap sees keys with Input Monitoring or Accessibility."""
    access = api.input_monitoring_access()
    if access == _GRANTED or api.accessibility_trusted():
        return OK
    if access is None:  # before 10.15 only Accessibility gates event taps
        return NO_ACCESSIBILITY
    if access == _DENIED:
        return NO_INPUT_MONITORING
    return unavailable("input monitoring permission not granted (not yet requested)")


def permissions(api: MacLike) -> dict[str, str]:
    """Each macOS privacy permission the agent uses, as a capability string (for status)."""
    screen = api.screen_capture_access()
    access = api.input_monitoring_access()
    return {
        "screen_recording": NO_SCREEN_RECORDING if screen is False else OK,
        "accessibility": OK if api.accessibility_trusted() else NO_ACCESSIBILITY,
        "input_monitoring": (
            OK
            if access in (None, _GRANTED)
            else NO_INPUT_MONITORING
            if access == _DENIED
            else unavailable("input monitoring permission not granted (not yet requested)")
        ),
    }


class MacOSBackend:
    """The macOS platform backend. ``api`` builds the OS-call object (a fake in tests)."""

    name = "macos"

    def __init__(self, api: ApiFactory | None = None, *, poll_s: float = POLL_S) -> None:
        self._api_factory = api or _real_api
        self._poll_s = poll_s
        self._probe: MacLike | None = None
        self._probe_error = ""

    def _probe_api(self) -> MacLike | None:
        if self._probe is None and not self._probe_error:
            try:
                self._probe = self._api_factory()
            except ImportError as exc:
                self._probe_error = f"pyobjc is not installed ({exc.name or exc})"
            except Exception as exc:  # not macOS, or a framework missing
                self._probe_error = str(exc) or type(exc).__name__
        return self._probe

    def _checked(self, check: Callable[[MacLike], str]) -> str:
        api = self._probe_api()
        if api is None:
            return unavailable(self._probe_error)
        try:
            return check(api)
        except Exception as exc:
            return unavailable(f"cannot read permissions ({type(exc).__name__})")

    def window_source(self) -> MacWindowSource:
        return MacWindowSource(self._api_factory, poll_s=self._poll_s)

    def windows_status(self) -> str:
        return self._checked(windows_capability)

    def keyboard_status(self) -> str:
        status = self._checked(keyboard_capability)
        if status == OK and importlib.util.find_spec("pynput") is None:
            return unavailable("pynput is not installed")
        return status

    def permissions(self) -> dict[str, str]:
        """Screen Recording, Accessibility and Input Monitoring, each ``"ok"`` or unavailable."""
        api = self._probe_api()
        if api is None:
            reason = unavailable(self._probe_error)
            return dict.fromkeys(("screen_recording", "accessibility", "input_monitoring"), reason)
        return permissions(api)

    def prepare_keyboard(self) -> None:
        """Keep pynput's listener thread away from the Text Input Sources API (below)."""
        if sys.platform != "darwin":
            return
        try:
            from pynput.keyboard import _darwin
        except Exception as exc:  # reported by the listener's own import
            log.debug("pynput darwin backend not importable: %s", type(exc).__name__)
            return
        patch_pynput_listener(_darwin)

    def attach_keyboard(self, listener: Any) -> None:
        return None

    def detach_keyboard(self, listener: Any) -> None:
        return None

    def key_source(self) -> KeySource | None:
        return None  # pynput's Quartz event tap

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        return None  # Option+key characters arrive from pynput already composed


@contextlib.contextmanager
def _no_keycode_context() -> Iterator[tuple[None, None]]:
    yield (None, None)


def patch_pynput_listener(module: Any) -> bool:
    """Stop pynput's macOS listener from calling TIS/TSM on its own thread.

    pynput (1.8) opens a ``keycode_context()`` at the start of every listener thread:
    ``TISCopyCurrentKeyboardInputSource`` + ``TISGetInputSourceProperty``. Recent macOS asserts
    that these run on the main queue and kills the process (``EXC_BREAKPOINT`` in
    ``_dispatch_assert_queue_fail`` under ``TSMGetInputSourceProperty``, reported for pynput and
    other listeners). The listener never uses that context: keys are translated with
    ``CGEventKeyboardGetUnicodeString``. So the listener gets an empty one. Only the listener's
    module global is replaced; pynput's ``Controller`` (unused by the agent) keeps the real one.
    Returns whether the patch applied.
    """
    if getattr(module, "keycode_context", None) is None or not hasattr(module, "Listener"):
        return False
    module.keycode_context = _no_keycode_context
    return True


class MacWindowSource:
    """Re-reads the focused window on activation and every ``poll_s`` seconds."""

    def __init__(self, api_factory: ApiFactory, *, poll_s: float = POLL_S) -> None:
        self._api_factory = api_factory
        self._poll_s = poll_s
        self._api: MacLike | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._status = unavailable("not started")
        self._on_change: WindowCallback | None = None
        self._last: tuple[int, str, bool] | None = None
        self._apps: OrderedDict[int, tuple[str, str, str]] = OrderedDict()  # pid -> names

    # ---------------------------------------------------------------- public interface

    def start(self, on_change: WindowCallback) -> None:
        if self._thread is not None:
            return
        self._on_change = on_change
        self._status = OK
        self._thread = threading.Thread(target=self._run, name="lantern-mac-windows", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("macOS window watcher did not stop within %.1fs", timeout)
        if self._status == OK or self._status == NO_SCREEN_RECORDING:
            self._status = unavailable("stopped")

    def status(self) -> str:
        if self._status == OK and self._thread is not None and not self._thread.is_alive():
            return unavailable("window watcher stopped")
        return self._status

    def wake(self) -> None:
        """Re-read now (the activation notification; tests)."""
        self._wake.set()

    # ---------------------------------------------------------------- the watcher thread

    def _run(self) -> None:
        token: Any = None
        api: MacLike | None = None
        try:
            api = self._api = self._api_factory()
        except ImportError as exc:
            self._status = unavailable(f"pyobjc is not installed ({exc.name or exc})")
            return
        except Exception as exc:  # not macOS, or a framework missing
            self._status = unavailable(str(exc) or type(exc).__name__)
            return
        try:
            try:
                token = api.watch_activation(self._wake.set)
            except Exception as exc:  # polling alone still works
                log.info("no activation notifications (%s): polling", type(exc).__name__)
            while not self._stopping.is_set():
                self._wake.clear()
                self._refresh()
                self._wake.wait(self._poll_s)
        except Exception as exc:
            if not self._stopping.is_set():
                log.warning("macOS window watcher failed: %s", type(exc).__name__)
                self._status = unavailable(f"window watcher failed ({type(exc).__name__})")
        finally:
            if token is not None and api is not None:
                try:
                    api.unwatch_activation(token)
                except Exception:
                    pass

    def _refresh(self) -> None:
        api = self._api
        assert api is not None
        try:
            self._status = windows_capability(api)
            info = self._read(api)
        except Exception as exc:  # an app quit mid-read: the next poll retries
            log.debug("window refresh failed: %s", type(exc).__name__)
            return
        key = (info.handle, info.title, info.secure) if info is not None else None
        if key == self._last:
            return
        self._last = key
        if self._on_change is not None:
            try:
                self._on_change(info)
            except Exception:
                log.exception("window callback failed")

    def _read(self, api: MacLike) -> WindowInfo | None:
        if api.screen_locked():
            return WindowInfo(handle=LOCKED_HANDLE, title="", process="loginwindow", secure=True)
        windows = [w for w in api.window_list() if int(w.get("kCGWindowLayer", 0)) == 0]
        pid = api.frontmost_pid()
        if pid is None:
            if not windows:
                return None
            pid = int(windows[0].get("kCGWindowOwnerPID", 0)) or None
            if pid is None:
                return None
        front = next((w for w in windows if int(w.get("kCGWindowOwnerPID", 0)) == pid), None)
        if front is not None:
            handle = int(front.get("kCGWindowNumber", 0))
            title = str(front.get("kCGWindowName") or "")
        else:  # an active app with no window open (Finder on the desktop)
            handle, title = -pid, ""
        if not title:
            title = api.focused_window_title(pid) or ""
        process, name, bundle = self._app(api, pid, front)
        return WindowInfo(
            handle=handle,
            title=title,
            pid=pid,
            process=process,
            app_class=name,
            app_instance=bundle,
            secure=api.secure_input_enabled(),
        )

    def _app(self, api: MacLike, pid: int, front: dict[str, Any] | None) -> tuple[str, str, str]:
        """(process, localized name, bundle id) for ``pid``, cached while it runs."""
        cached = self._apps.get(pid)
        if cached is None:
            name, bundle = api.app_info(pid)
            owner = str(front.get("kCGWindowOwnerName") or "") if front is not None else ""
            cached = (process_name(pid) or owner or name, name or owner, bundle)
            self._apps[pid] = cached
            while len(self._apps) > _CACHE_SIZE:
                self._apps.popitem(last=False)
        return cached
