"""X11 backend: event-driven focus and title tracking with python-xlib.

The watcher owns one X connection in one thread and sleeps in ``select()`` on it: it listens to
``PropertyNotify`` on the root window (``_NET_ACTIVE_WINDOW``, kept by the window manager) and on
the focused window (``_NET_WM_NAME`` / ``WM_NAME``). Listening costs ~0.03% CPU idle against ~0.1%
for polling once a second. Without an EWMH window manager there is no ``_NET_ACTIVE_WINDOW``; then
the input focus is polled twice a second as a fallback.

Screen lockers (i3lock, xscreensaver, slock…) never become the active window: they map a
full-screen override-redirect window and grab the keyboard, so the unlock password would land in
the buffer of the window below. The watcher therefore also follows top-level maps on the root
(``SubstructureNotify``): while a full-screen override-redirect window is mapped, it is reported
as the focused window with ``secure=True``, and typing is not captured.

Measured quirks handled here (see FINDINGS.md): xterm sets only ``WM_NAME`` (as COMPOUND_TEXT);
``_NET_WM_NAME`` is sometimes ``STRING`` holding UTF-8; Tk sets no ``_NET_WM_PID`` (the X-Resource
extension gives the PID); each title change arrives as two events (only changes are reported).
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agent.platform.base import (
    OK,
    WakePipe,
    WindowCallback,
    WindowInfo,
    process_name,
    unavailable,
)
from agent.platform.x11_text import decode_text_property

log = logging.getLogger(__name__)

# Imported lazily by the functions below: python-xlib is a Linux-only dependency.
_FALLBACK_POLL_S = 0.5
_IDLE_WAKE_S = 300.0  # bounded select; stop() wakes it through a pipe, so idle means asleep
_CACHE_SIZE = 64


def _open_display(name: str) -> Any:
    from Xlib import display as xdisplay

    return xdisplay.Display(name)


class X11Backend:
    """The X11 platform backend for one display (``":0"``, ``":99"``)."""

    name = "x11"

    def __init__(self, display: str) -> None:
        self.display = display
        self._keyboard_listeners: list[Any] = []
        self._keymap_display: Any = None
        self._keymap_lock = threading.Lock()

    def window_source(self) -> X11WindowSource:
        return X11WindowSource(self.display, on_keymap_change=self._keymap_changed)

    def attach_keyboard(self, listener: Any) -> None:
        """Keep pynput's key translation current when the keyboard layout changes.

        pynput translates keycodes with the keymap its second X connection cached when it
        started; nothing ever reads that connection's events, so after ``setxkbmap`` (or any
        layout change) it reports the wrong characters ("Café" arrived as "Cqf2" after switching
        to fr in a test). The window watcher sees MappingNotify and refreshes that cache.
        """
        _patch_pynput_groups()
        with self._keymap_lock:
            self._keyboard_listeners = [*self._keyboard_listeners, listener]

    def key_source(self) -> Any:
        """The lean RECORD reader (:mod:`.x11_record`); ``LANTERN_X11_KEYS=pynput`` for None
        (pynput's listener instead)."""
        if os.environ.get("LANTERN_X11_KEYS", "").lower() == "pynput":
            return None
        from agent.platform.x11_record import X11KeyRecorder

        return X11KeyRecorder(self.display)

    def detach_keyboard(self, listener: Any) -> None:
        """Stop refreshing ``listener``'s keymap. Once this returns no refresh is running, so the
        listener's X connection can be used to stop it without two threads on one connection."""
        with self._keymap_lock:
            self._keyboard_listeners = [x for x in self._keyboard_listeners if x is not listener]

    def level3_char(self, keysym: int, shift: bool) -> str | None:
        """AltGr translation from the layout's core keymap (columns 4/5 are level 3/4).

        Called on the observer's consumer thread; lookups are local to a private connection.
        """
        with self._keymap_lock:
            try:
                if self._keymap_display is None:
                    self._keymap_display = _open_display(self.display)
                d = self._keymap_display
                keycode = d.keysym_to_keycode(keysym)
                if not keycode:
                    return None
                return keysym_to_char(d.keycode_to_keysym(keycode, 5 if shift else 4))
            except Exception as exc:  # display gone: fall back to the base character
                log.debug("level-3 lookup failed: %s", type(exc).__name__)
                return None

    def _keymap_changed(self, event: Any) -> None:
        """MappingNotify seen by the window watcher: refresh every cached keymap."""
        with self._keymap_lock:
            if self._keymap_display is not None:
                try:
                    self._keymap_display.refresh_keyboard_mapping(event)
                except Exception:
                    self._keymap_display = None  # reopened on the next lookup
            self._keyboard_listeners = [x for x in self._keyboard_listeners if x.is_alive()]
            for listener in self._keyboard_listeners:
                display = getattr(listener, "_display_stop", None)  # pynput's translating one
                if display is None:
                    continue
                try:
                    display.refresh_keyboard_mapping(event)
                except Exception as exc:  # the listener closed its connection meanwhile
                    log.debug("keymap refresh failed: %s", type(exc).__name__)

    def windows_status(self) -> str:
        try:
            d = _open_display(self.display)
        except Exception as exc:  # Xlib raises several unrelated types for a bad display
            return unavailable(f"cannot open X display {self.display}: {exc}")
        d.close()
        return OK

    def keyboard_status(self) -> str:
        # Without RECORD pynput's listener thread dies while ``running`` still says True and
        # ``wait()`` blocks forever, so this is checked before any listener starts.
        try:
            d = _open_display(self.display)
        except Exception as exc:
            return unavailable(f"cannot open X display {self.display}: {exc}")
        try:
            if not d.has_extension("RECORD"):
                return unavailable("X server lacks the RECORD extension")
        finally:
            d.close()
        return OK

    def prepare_keyboard(self) -> None:
        # pynput reads $DISPLAY at import time and whenever a listener opens its connections.
        os.environ["DISPLAY"] = self.display


class X11WindowSource:
    """Watches the focused window and its title on one X display from a daemon thread."""

    def __init__(
        self, display: str, *, on_keymap_change: Callable[[Any], None] | None = None
    ) -> None:
        self._display_name = display
        self._on_keymap_change = on_keymap_change
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake: WakePipe | None = None
        self._status = unavailable("not started")
        self._on_change: WindowCallback | None = None
        # Per-window facts that do not change while the window lives: pid, process, WM_CLASS.
        self._static: OrderedDict[int, tuple[int | None, str, str, str]] = OrderedDict()
        self._last: tuple[int, str] | None = None
        self._watched = 0
        self._d: Any = None
        self._atoms: dict[str, int] = {}
        self._covers: list[int] = []  # mapped full-screen override-redirect windows (lockers)
        self._ewmh = False  # the window manager maintains _NET_ACTIVE_WINDOW

    # ---------------------------------------------------------------- public interface

    def start(self, on_change: WindowCallback) -> None:
        if self._thread is not None:
            return
        self._on_change = on_change
        self._wake = WakePipe()
        self._status = OK
        self._thread = threading.Thread(target=self._run, name="lantern-x11-windows", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._wake is not None:
            self._wake.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("x11 window watcher did not stop within %.1fs", timeout)
        if self._wake is not None:
            self._wake.close()
        if self._status == OK:
            self._status = unavailable("stopped")

    def status(self) -> str:
        if self._status == OK and self._thread is not None and not self._thread.is_alive():
            return unavailable("window watcher stopped")
        return self._status

    # ---------------------------------------------------------------- the watcher thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the X server went away or misbehaved: report, do not crash
            if not self._stopping.is_set():
                log.warning("x11 window watcher failed: %s", type(exc).__name__)
                self._status = unavailable(f"X connection lost ({type(exc).__name__})")
        finally:
            if self._d is not None:
                try:
                    self._d.close()
                except Exception:
                    pass
                self._d = None

    def _loop(self) -> None:
        from Xlib import X

        d = self._d = _open_display(self._display_name)
        # Asynchronous errors (a window destroyed between two requests) are expected; the default
        # handler would print them to stderr.
        d.set_error_handler(lambda *_args: None)
        for name in (
            "_NET_ACTIVE_WINDOW",
            "_NET_WM_NAME",
            "WM_NAME",
            "_NET_WM_PID",
            "_NET_SUPPORTED",
            "UTF8_STRING",
        ):
            self._atoms[name] = d.intern_atom(name)
        root = d.screen().root
        # SubstructureNotify: top-level (un)maps, to notice screen lockers (see module docstring).
        root.change_attributes(event_mask=X.PropertyChangeMask | X.SubstructureNotifyMask)
        self._find_covers(root)
        self._ewmh = self._supports_active_window(root)
        if not self._ewmh:
            log.info("no _NET_ACTIVE_WINDOW on %s: polling input focus", self._display_name)
        self._refresh(self._ewmh)
        fd = d.fileno()
        while not self._stopping.is_set():
            changed = False
            # Replies to our own requests can queue events without the socket staying readable,
            # so drain the queue before sleeping.
            while d.pending_events():
                changed |= self._is_relevant(d.next_event(), root)
            ewmh = self._ewmh
            if changed:
                self._refresh(ewmh)
                continue
            timeout = _IDLE_WAKE_S if ewmh else _FALLBACK_POLL_S
            wake_r = self._wake.r if self._wake is not None else -1
            ready, _, _ = select.select([fd, wake_r], [], [], timeout)
            if wake_r in ready or self._stopping.is_set():
                return
            if not ready and not ewmh:
                self._refresh(ewmh)

    def _supports_active_window(self, root: Any) -> bool:
        from Xlib import X

        prop = root.get_full_property(self._atoms["_NET_SUPPORTED"], X.AnyPropertyType)
        return prop is not None and self._atoms["_NET_ACTIVE_WINDOW"] in list(prop.value)

    def _is_relevant(self, event: Any, root: Any) -> bool:
        from Xlib import X

        if event.type == X.MappingNotify:
            if event.request == X.MappingKeyboard and self._on_keymap_change is not None:
                self._on_keymap_change(event)
            return False
        if event.type == X.MapNotify:
            return bool(event.override) and self._note_cover(event.window)
        if event.type in (X.UnmapNotify, X.DestroyNotify):
            if event.window.id in self._covers:
                self._covers.remove(event.window.id)
                return True
            return False
        if event.type != X.PropertyNotify:
            return False
        if event.window.id == root.id:
            if event.atom == self._atoms["_NET_SUPPORTED"]:
                # A window manager started (or was replaced) after us: switch to its events.
                self._ewmh = self._supports_active_window(root)
                return True
            return bool(event.atom == self._atoms["_NET_ACTIVE_WINDOW"])
        return event.window.id == self._watched and event.atom in (
            self._atoms["_NET_WM_NAME"],
            self._atoms["WM_NAME"],
        )

    def _find_covers(self, root: Any) -> None:
        """A locker already on screen when the watcher starts (the agent started while locked)."""
        from Xlib import X
        from Xlib import error as xerror

        for child in root.query_tree().children:
            try:
                attrs = child.get_attributes()
            except (xerror.BadWindow, xerror.BadDrawable):
                continue
            if attrs.override_redirect and attrs.map_state == X.IsViewable:
                self._note_cover(child)

    def _note_cover(self, win: Any) -> bool:
        """Remember ``win`` if it is an override-redirect window covering the whole screen."""
        from Xlib import error as xerror

        screen = self._d.screen()
        try:
            geom = win.get_geometry()
        except (xerror.BadWindow, xerror.BadDrawable):
            return False
        covers = (
            geom.x <= 0
            and geom.y <= 0
            and geom.x + geom.width >= screen.width_in_pixels
            and geom.y + geom.height >= screen.height_in_pixels
        )
        if covers and win.id not in self._covers:
            self._covers.append(win.id)
            return True
        return False

    def _refresh(self, ewmh: bool) -> None:
        """Re-read the focused window and title; report if either changed."""
        from Xlib import error as xerror

        try:
            if self._covers:
                # A locker covers the screen and holds the keyboard: it is where keys go.
                info: WindowInfo | None = self._read(self._covers[-1], secure=True)
            else:
                wid = self._active_window() if ewmh else self._focused_toplevel()
                info = self._read(wid) if wid else None
        except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
            info = None  # the window vanished between the event and our request
        if info is None:
            self._watch(0)
            key = None
        else:
            self._watch(info.handle)
            key = (info.handle, info.title)
        if key == self._last:
            return  # the duplicate of a title event, or a property we do not care about
        self._last = key
        if self._on_change is not None:
            try:
                self._on_change(info)
            except Exception:
                log.exception("window callback failed")

    def _active_window(self) -> int:
        from Xlib import X

        prop = self._d.screen().root.get_full_property(
            self._atoms["_NET_ACTIVE_WINDOW"], X.AnyPropertyType
        )
        if prop is None or not len(prop.value):
            return 0
        return int(prop.value[0])

    def _focused_toplevel(self) -> int:
        """Without a window manager: walk up from the input focus to a window with a title."""
        focus = self._d.get_input_focus().focus
        root_id = self._d.screen().root.id
        if isinstance(focus, int):  # X.NONE or X.PointerRoot: no window has the focus
            return 0
        while focus.id not in (0, root_id):
            if self._title(focus):
                return int(focus.id)
            tree = focus.query_tree()
            focus = tree.parent
        return 0

    def _watch(self, wid: int) -> None:
        """Listen to title changes on ``wid`` only; stop listening on the previous window."""
        from Xlib import X
        from Xlib import error as xerror

        if wid == self._watched:
            return
        for old_or_new, mask in ((self._watched, 0), (wid, X.PropertyChangeMask)):
            if old_or_new:
                win = self._d.create_resource_object("window", old_or_new)
                # Event masks are per client, so this never disturbs the application's own.
                win.change_attributes(event_mask=mask, onerror=xerror.CatchError(xerror.BadWindow))
        self._watched = wid

    def _read(self, wid: int, *, secure: bool = False) -> WindowInfo:
        win = self._d.create_resource_object("window", wid)
        title = self._title(win)
        static = self._static.get(wid)
        if static is None:
            pid = self._pid(win)
            wm_class = win.get_wm_class() or ("", "")
            static = (pid, process_name(pid), wm_class[1] or "", wm_class[0] or "")
            self._static[wid] = static
            while len(self._static) > _CACHE_SIZE:
                self._static.popitem(last=False)
        pid, process, app_class, app_instance = static
        return WindowInfo(
            handle=wid,
            title=title,
            pid=pid,
            process=process,
            app_class=app_class,
            app_instance=app_instance,
            secure=secure,
        )

    def _title(self, win: Any) -> str:
        from Xlib import X

        for atom in (self._atoms["_NET_WM_NAME"], self._atoms["WM_NAME"]):
            # AnyPropertyType: reading as UTF8_STRING returns nothing when a client wrote STRING.
            prop = win.get_full_property(atom, X.AnyPropertyType)
            if prop is None or prop.format != 8 or not prop.value:
                continue
            value = prop.value if isinstance(prop.value, bytes) else str(prop.value).encode()
            text = decode_text_property(value, self._d.get_atom_name(prop.property_type))
            if text:
                return text
        return ""

    def _pid(self, win: Any) -> int | None:
        from Xlib import X

        prop = win.get_full_property(self._atoms["_NET_WM_PID"], X.AnyPropertyType)
        if prop is not None and prop.format == 32 and len(prop.value):
            return int(prop.value[0])
        return self._pid_from_xres(win.id)

    def _pid_from_xres(self, wid: int) -> int | None:
        """The PID of the client owning ``wid``, from the X-Resource extension (local clients)."""
        if not self._d.has_extension("X-Resource"):
            return None
        from Xlib.ext import res

        try:
            reply = self._d.res_query_client_ids([{"client": wid, "mask": res.LocalClientPIDMask}])
        except Exception:
            return None
        for entry in reply.ids:
            if entry.spec.mask & res.LocalClientPIDMask and entry.value:
                return int(entry.value[0])
        return None


def keysym_to_char(keysym: int) -> str | None:
    """The character an X keysym types, for the keysym ranges that map directly to Unicode."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:  # Latin-1 keysyms are code points
        return chr(keysym)
    if keysym & 0xFF000000 == 0x01000000:  # Unicode keysyms
        return chr(keysym & 0x00FFFFFF)
    if 0x20A0 <= keysym <= 0x20AC:  # currency keysyms (EuroSign = 0x20ac = U+20AC)
        return chr(keysym)
    return None


_pynput_patched = False


def _patch_pynput_groups() -> None:
    """Make pynput's X11 key translation follow the active layout group.

    pynput picks the keysym column from Shift and Mode_switch only and ignores the XKB group in
    the event state, so with two layouts ("gb,pl", "us,ru") everything typed in the second one
    arrived as the first layout's letters ("привет" as "ghbdtn", measured). The core keymap puts
    group 2 in columns 2–3, so the group bits (13–14) select those. AltGr (Mod5) no longer
    selects columns 2–3: on XKB layouts it means level 3, which the key decoder resolves with
    :meth:`X11Backend.level3_char`. Groups 3 and 4 have no fixed core columns and stay
    unsupported (read as group 1).
    """
    global _pynput_patched
    if _pynput_patched:
        return
    try:
        from pynput.keyboard import _xorg
    except Exception:  # pynput's layout changed, or not the X11 backend: keep its own behaviour
        return
    if not hasattr(_xorg, "shift_to_index"):
        return

    def shift_to_index(display: Any, state: int) -> int:
        group = (state >> 13) & 3
        return (1 if state & 1 else 0) + (2 if group == 1 else 0)

    _xorg.shift_to_index = shift_to_index
    _pynput_patched = True
