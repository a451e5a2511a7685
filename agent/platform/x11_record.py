"""The X11 key source: X RECORD replies read straight off the socket (the default on X11).

pynput's X11 listener spends ~270 µs of Python per typed character in python-xlib's generic reply
parser and its own key objects (measured: ~2.5% of a core at 50 characters/s, over the ≤1% budget
for the whole agent). This reader sets the RECORD context up with python-xlib, then reads the
``RecordEnableContext`` reply stream itself: each reply is a 32-byte header plus whole 32-byte
core key events, parsed with ``struct``. Per event it costs one dictionary look-up:

* keycode + the modifier bits that choose a symbol (Shift, Lock, group, AltGr, Num Lock) →
  a ready :class:`~agent.observe.keyboard.KeyStroke`, cached, the cache emptied when the keymap
  changes (MappingNotify arrives on the recording connection too);
* releases are dropped at once except for modifiers (the decoder only tracks held modifiers);
* keysyms become characters through :mod:`agent.platform.x11_keysyms`, not pynput's tables.

``LANTERN_X11_KEYS=pynput`` selects pynput's listener instead; without RECORD neither can run and
the keyboard is reported unavailable. Like the pynput path, it never logs a key.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.platform.base import OK, unavailable
from agent.platform.x11_keysyms import DEAD_KEYS, keysym_char

log = logging.getLogger(__name__)

_KEY_PRESS, _MAPPING_NOTIFY = 2, 34
_REPLY, _ERROR = 1, 0
_FROM_SERVER, _END_OF_DATA = 0, 5
_RECORD_ENABLE_CONTEXT = 5
_SHIFT, _LOCK, _CONTROL = 1, 2, 4

# keysym -> special key name, as pynput names them (what KeyDecoder understands).
_SPECIAL = {
    0xFF08: "backspace",
    0xFFFF: "delete",
    0xFF51: "left",
    0xFF52: "up",
    0xFF53: "right",
    0xFF54: "down",
    0xFF50: "home",
    0xFF57: "end",
    0xFF55: "page_up",
    0xFF56: "page_down",
    0xFF0D: "enter",
    0xFF8D: "enter",
    0xFF09: "tab",
    0xFE20: "tab",
    0xFF1B: "esc",
    0xFFE1: "shift",
    0xFFE2: "shift_r",
    0xFFE3: "ctrl_l",
    0xFFE4: "ctrl_r",
    0xFFE9: "alt_l",
    0xFFEA: "alt_r",
    0xFFE7: "alt_l",
    0xFFE8: "alt_r",
    0xFFEB: "cmd",
    0xFFEC: "cmd_r",
    0xFE03: "alt_gr",
    0xFF7E: "alt_gr",
    0x20: "space",
    # Keypad navigation (Num Lock off)
    0xFF95: "home",
    0xFF96: "left",
    0xFF97: "up",
    0xFF98: "right",
    0xFF99: "down",
    0xFF9C: "end",
    0xFF9F: "delete",
}
# Keypad characters (Num Lock on) and a few more.
_KEYPAD_CHARS = {0xFFAA: "*", 0xFFAB: "+", 0xFFAD: "-", 0xFFAE: ".", 0xFFAF: "/", 0xFFBD: "="}
_KEYPAD_CHARS.update({0xFFB0 + i: str(i) for i in range(10)})

StrokeCallback = Callable[[Any, bool, float], None]

_GROUP_BITS = 0x6000


class X11KeyRecorder:
    """Key presses from X RECORD, read without python-xlib's reply parser."""

    # Its thread only reads keys, so the observer handles them on it (no hand-over per key).
    direct = True

    def __init__(self, display: str) -> None:
        self._display_name = display
        self._status = unavailable("not started")
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ctl: Any = None
        self._context = 0
        self._sock: socket.socket | None = None
        self._keymap: list[tuple[int, ...]] = []
        self._min_keycode = 8
        self._masks = {"level3": 0, "numlock": 0}
        # keycode | (the state bits that matter) << 8 -> KeyStroke
        self._cache: dict[int, Any] = {}
        self._state_mask = _SHIFT | _LOCK | _CONTROL | _GROUP_BITS

    def start(self, on_key: StrokeCallback) -> str:
        """Start recording; returns the keyboard capability. Never blocks for long."""
        if self._thread is not None:
            return self.status()
        from Xlib import X
        from Xlib import display as xdisplay
        from Xlib.ext import record

        try:
            ctl = xdisplay.Display(self._display_name)
            if not ctl.has_extension("RECORD"):
                ctl.close()
                self._status = unavailable("X server lacks the RECORD extension")
                return self._status
            rec = xdisplay.Display(self._display_name)
            self._ctl = ctl
            self._load_keymap()
            self._context = ctl.record_create_context(
                0,
                [record.AllClients],
                [
                    {
                        "core_requests": (0, 0),
                        "core_replies": (0, 0),
                        "ext_requests": (0, 0, 0, 0),
                        "ext_replies": (0, 0, 0, 0),
                        "delivered_events": (0, 0),
                        # Presses only: each carries the modifiers held, so releases (half
                        # the traffic, and a wake-up each) are never sent to us.
                        "device_events": (X.KeyPress, X.KeyPress),
                        "errors": (0, 0),
                        "client_started": False,
                        "client_died": False,
                    }
                ],
            )
            ctl.sync()
            major = rec.display.get_extension_major("RECORD")
            sock = rec.display.socket
            # From here on the recording connection is ours alone: python-xlib never reads it
            # again, so its sequence numbers do not matter.
            sock.sendall(struct.pack("=BBHI", major, _RECORD_ENABLE_CONTEXT, 2, self._context))
        except Exception as exc:
            self._status = unavailable(f"X RECORD setup failed ({type(exc).__name__})")
            return self._status
        self._sock = sock
        self._status = OK
        self._thread = threading.Thread(
            target=self._run, args=(rec, on_key), name="lantern-x11-keys", daemon=True
        )
        self._thread.start()
        return OK

    def status(self) -> str:
        if self._status == OK and self._thread is not None and not self._thread.is_alive():
            return unavailable("keyboard recording stopped")
        return self._status

    def stop(self, timeout: float = 2.0) -> None:
        """Disable the context from the control connection (ends the reply stream) and join."""
        self._stopping.set()
        if self._ctl is not None and self._context:
            try:
                self._ctl.record_disable_context(self._context)
                self._ctl.flush()
            except Exception:
                pass
        if self._sock is not None:
            # Wakes the reader's blocking recv() at once even if the server never answers.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        if self._ctl is not None:
            try:
                self._ctl.record_free_context(self._context)
                self._ctl.close()
            except Exception:
                pass
            self._ctl = None
        if self._status == OK:
            self._status = unavailable("stopped")

    # ---------------------------------------------------------------- the reader thread

    def _run(self, rec: Any, on_key: StrokeCallback) -> None:
        sock = rec.display.socket
        sock.setblocking(True)
        recv = sock.recv
        buf = b""
        try:
            # One blocking recv() per wake-up, no select(): stop() shuts the socket down.
            while not self._stopping.is_set():
                chunk = recv(16384)
                if not chunk:
                    if self._stopping.is_set():
                        return
                    raise ConnectionError("X server closed the connection")
                buf += chunk
                buf, done = self._parse(buf, on_key)
                if done:
                    return
        except Exception as exc:
            if not self._stopping.is_set():
                log.warning("x11 key recording failed: %s", type(exc).__name__)
                self._status = unavailable(f"X connection lost ({type(exc).__name__})")
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _parse(self, buf: bytes, on_key: StrokeCallback) -> tuple[bytes, bool]:
        """Consume whole replies/events from ``buf``; returns the rest and whether data ended."""
        pos, n = 0, len(buf)
        unpack = struct.unpack_from
        cache = self._cache
        while n - pos >= 32:
            kind = buf[pos]
            if kind == _REPLY:
                (extra,) = unpack("=I", buf, pos + 4)
                end = pos + 32 + 4 * extra
                if end > n:
                    break
                category = buf[pos + 1]
                if category == _FROM_SERVER:
                    now = time.monotonic()
                    mask = self._state_mask
                    for i in range(pos + 32, end - 31, 32):
                        etype = buf[i] & 0x7F
                        if etype == _KEY_PRESS:
                            keycode = buf[i + 1]
                            (state,) = unpack("=H", buf, i + 28)
                            key = keycode | (state & mask) << 8
                            stroke = cache.get(key)
                            if stroke is None:
                                stroke = cache[key] = self._stroke(keycode, state)
                            on_key(stroke, True, now)
                elif category == _END_OF_DATA:
                    return b"", True
                pos = end
            elif kind == _ERROR:
                raise RuntimeError(f"X error {buf[pos + 1]} on the recording connection")
            else:
                if kind & 0x7F == _MAPPING_NOTIFY:  # the layout changed: re-read the keymap
                    self._load_keymap()
                pos += 32
        return buf[pos:], False

    # ---------------------------------------------------------------- translation

    def _load_keymap(self) -> None:
        ctl = self._ctl
        if ctl is None:
            return
        info = ctl.display.info
        self._min_keycode = info.min_keycode
        count = info.max_keycode - info.min_keycode + 1
        self._keymap = [tuple(row) for row in ctl.get_keyboard_mapping(self._min_keycode, count)]
        masks = {"level3": 0, "numlock": 0, "alt": 0, "super": 0}
        wanted = {
            "level3": (0xFE03, 0xFF7E),
            "numlock": (0xFF7F,),
            "alt": (0xFFE9, 0xFFEA, 0xFFE7, 0xFFE8),  # Alt_L/R, Meta_L/R
            "super": (0xFFEB, 0xFFEC),  # Super_L/R
        }
        for index, keycodes in enumerate(ctl.get_modifier_mapping()):
            for keycode in keycodes:
                syms = self._syms(keycode)
                for name, keysyms in wanted.items():
                    if any(s in keysyms for s in syms):
                        masks[name] |= 1 << index
        self._masks = masks
        self._index_keymap()

    def _index_keymap(self) -> None:
        """After the keymap or modifier masks changed: forget cached strokes."""
        self._cache = {}
        m = self._masks
        self._state_mask = (
            _SHIFT
            | _LOCK
            | _CONTROL
            | _GROUP_BITS
            | m["level3"]
            | m["numlock"]
            | m.get("alt", 0)
            | m.get("super", 0)
        )

    def _syms(self, keycode: int) -> tuple[int, ...]:
        i = keycode - self._min_keycode
        return self._keymap[i] if 0 <= i < len(self._keymap) else ()

    def _stroke(self, keycode: int, state: int) -> Any:
        """The stroke for ``keycode`` with modifier ``state``, carrying the modifiers held."""
        from dataclasses import replace

        from agent.observe import keyboard as kb  # observe is above platform: import late

        m = self._masks
        mods = (
            (kb.MOD_SHIFT if state & _SHIFT else 0)
            | (kb.MOD_CTRL if state & _CONTROL else 0)
            | (kb.MOD_ALT if state & m.get("alt", 0) else 0)
            | (kb.MOD_CMD if state & m.get("super", 0) else 0)
            | (kb.MOD_ALT_GR if state & m["level3"] else 0)
        )
        return replace(self._translate(keycode, state), mods=mods)

    def _translate(self, keycode: int, state: int) -> Any:
        from agent.observe.keyboard import KeyStroke

        syms = self._syms(keycode)
        if not syms:
            return KeyStroke()
        base = syms[0]
        # Keys whose meaning does not depend on modifiers (keypad aside): report them by name.
        if base in _SPECIAL and base != 0x20 and not 0xFF80 <= base <= 0xFFBD:
            return KeyStroke(name=_SPECIAL[base])
        group = (state >> 13) & 3
        first = 2 if group == 1 else 0
        level3 = bool(state & self._masks["level3"])
        if level3:
            first = 4 if group != 1 else 6
        shift = bool(state & _SHIFT)
        keysym = self._pick(syms, first, shift)
        if 0xFF80 <= keysym <= 0xFFBD:  # keypad: Num Lock chooses digits or navigation
            if state & self._masks["numlock"] and len(syms) > 1:
                keysym = syms[1]
            if keysym in _KEYPAD_CHARS:
                return KeyStroke(char=_KEYPAD_CHARS[keysym], vk=keysym)
        if keysym in _SPECIAL:
            return KeyStroke(name=_SPECIAL[keysym])
        if keysym in DEAD_KEYS:
            spacing, combining = DEAD_KEYS[keysym]
            return KeyStroke(char=spacing, dead=True, combining=combining, vk=keysym)
        char = keysym_char(keysym)
        if char and state & _LOCK and not shift and char.isalpha():
            char = char.upper()  # Caps Lock on letters
        return KeyStroke(char=char, vk=keysym)

    @staticmethod
    def _pick(syms: tuple[int, ...], first: int, shift: bool) -> int:
        """The keysym of a group/level pair of columns, with the core protocol's fallbacks."""
        lower = syms[first] if first < len(syms) else 0
        upper = syms[first + 1] if first + 1 < len(syms) else 0
        if not lower and first:
            lower = syms[0]
            upper = syms[1] if len(syms) > 1 else 0
        if not upper:
            upper = lower  # a one-symbol column: shifted is the same key (letters upcased below)
            if shift:
                char = chr(lower) if 0x20 <= lower < 0x100 else ""
                if char.isalpha():
                    return ord(char.upper())
        return upper if shift else lower
