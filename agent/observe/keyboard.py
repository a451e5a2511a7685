"""Keyboard capture (pynput) and decoding of key presses into buffer edits.

Two halves, split by thread:

* :class:`KeyboardListener` runs pynput's listener. Its callback only puts the raw key on a queue:
  a slow callback delays every later key (5 s late in one measurement), and pynput's X11 listener
  must never be waited on without a timeout (it blocks forever if its thread died).
* :class:`KeyDecoder` runs on the observer's consumer thread and turns press/release events into
  :class:`~agent.observe.typed_text.Edit` operations, tracking modifiers and dead keys.

Nothing here logs key values.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.observe.typed_text import Edit, Op
from agent.platform.base import OK, PlatformBackend, unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyStroke:
    """A key press or release, independent of pynput's classes (so decoding is testable).

    ``name`` is set for special keys (pynput's ``Key`` names: ``"backspace"``, ``"ctrl_r"``…),
    ``char`` for character keys. ``combining`` is the combining mark of a dead key.

    ``mods`` (``MOD_*`` bits) is the set of modifiers held, when the platform's event says so
    (X11 RECORD: the key event's state); then releases are not needed, and ``char`` is already
    the character the layout gives with those modifiers (AltGr included). ``-1``: unknown
    (pynput), and the decoder tracks modifiers from their presses and releases.
    """

    name: str = ""
    char: str = ""
    dead: bool = False
    combining: str = ""
    vk: int = 0  # the platform's key symbol (X11 keysym), for AltGr translation
    mods: int = field(default=-1, compare=False)

    def __repr__(self) -> str:  # never show typed characters
        return f"KeyStroke(name={self.name!r}, char={'<redacted>' if self.char else ''!r})"


# X keysyms of the AltGr key: ISO_Level3_Shift (modern XKB layouts) and Mode_switch.
_LEVEL3_KEYSYMS = frozenset({0xFE03, 0xFF7E})


def stroke_from_pynput(key: Any) -> KeyStroke:
    """Convert a pynput ``Key`` or ``KeyCode`` without importing pynput."""
    if key is None:
        return KeyStroke()
    if isinstance(key, KeyStroke):  # already converted (tests, other platforms' hooks)
        return key
    if hasattr(key, "name") and hasattr(key, "value"):  # a pynput Key enum member
        return KeyStroke(name=str(key.name))
    vk = getattr(key, "vk", None)
    if vk in _LEVEL3_KEYSYMS:
        return KeyStroke(name="alt_gr")  # pynput knows AltGr only as Mode_switch
    char = getattr(key, "char", None) or ""
    dead = bool(getattr(key, "is_dead", False))
    combining = (getattr(key, "combining", None) or "") if dead else ""
    return KeyStroke(char=char, dead=dead, combining=combining, vk=vk if isinstance(vk, int) else 0)


_CTRL = frozenset({"ctrl", "ctrl_l", "ctrl_r"})
_ALT = frozenset({"alt", "alt_l", "alt_r"})
_CMD = frozenset({"cmd", "cmd_l", "cmd_r"})
_SHIFT = frozenset({"shift", "shift_l", "shift_r"})
_ALT_GR = frozenset({"alt_gr"})
_MODIFIERS = _CTRL | _ALT | _CMD | _SHIFT | _ALT_GR
MOD_SHIFT, MOD_CTRL, MOD_ALT, MOD_CMD, MOD_ALT_GR = 1, 2, 4, 8, 16

#: Given the key symbol of a character key and whether Shift is held, the character AltGr makes
#: of it (``None`` when the platform's key events already carry it, or there is none).
Level3Translator = Callable[[int, bool], "str | None"]

# Ctrl/Cmd + letter shortcuts after which the buffer no longer matches the field: select-all (the
# next key replaces everything), cut, paste (text we cannot see), undo/redo, and the terminal's
# interrupt / kill-line.
_CLEARING_SHORTCUTS = frozenset("axvzycu")


class KeyDecoder:
    """Turns a stream of :class:`KeyStroke` presses and releases into buffer edits.

    ``alt_types_text``: on macOS Option+key types characters; elsewhere Alt+key is a menu
    accelerator and types nothing.
    """

    def __init__(
        self,
        *,
        alt_types_text: bool | None = None,
        level3: Level3Translator | None = None,
    ) -> None:
        self._ctrl: set[str] = set()
        self._alt: set[str] = set()
        self._cmd: set[str] = set()
        self._shift: set[str] = set()
        self._alt_gr: set[str] = set()
        self._mod_groups = (
            (MOD_SHIFT, self._shift, "shift"),
            (MOD_CTRL, self._ctrl, "ctrl"),
            (MOD_ALT, self._alt, "alt"),
            (MOD_CMD, self._cmd, "cmd"),
            (MOD_ALT_GR, self._alt_gr, "alt_gr"),
        )
        self._dead: KeyStroke | None = None
        # pynput on X11 reports AltGr+key as AltGr then the key's base character ("4" for "€");
        # the platform knows the layout's third level.
        self._level3 = level3
        self._alt_types_text = (
            sys.platform == "darwin" if alt_types_text is None else alt_types_text
        )

    def reset(self) -> None:
        """Forget held modifiers and a pending dead key (e.g. after the listener restarts)."""
        for group in (self._ctrl, self._alt, self._cmd, self._shift, self._alt_gr):
            group.clear()
        self._dead = None

    def feed(self, stroke: KeyStroke, pressed: bool) -> Edit | None:
        """One press or release; returns the edit it makes, if any."""
        mods = stroke.mods
        if mods >= 0:  # the event says which modifiers are held: take that as the truth
            for bit, group, placeholder in self._mod_groups:
                if mods & bit:
                    if not group:
                        group.add(placeholder)
                elif group:
                    group.clear()
        name = stroke.name
        if name in _MODIFIERS:
            group = (
                self._ctrl
                if name in _CTRL
                else self._alt
                if name in _ALT
                else self._cmd
                if name in _CMD
                else self._shift
                if name in _SHIFT
                else self._alt_gr
            )
            if pressed:
                group.add(name)
            else:
                group.discard(name)
            return None
        if not pressed:
            return None
        if name:
            return self._special(name)
        return self._character(stroke)

    def _special(self, name: str) -> Edit | None:
        ctrl, alt, cmd = bool(self._ctrl), bool(self._alt), bool(self._cmd)
        word = ctrl or alt  # Ctrl+BackSpace (PC) and Option+BackSpace (Mac) delete a word
        if name == "space":
            return self._character(KeyStroke(char=" "))
        if name == "backspace":
            return Edit(Op.BACKSPACE_WORD if word else Op.BACKSPACE)
        if name == "delete":
            return Edit(Op.DELETE_WORD if word else Op.DELETE)
        if name in ("left", "right"):
            if cmd:
                return Edit(Op.HOME if name == "left" else Op.END)
            if word:
                return Edit(Op.WORD_LEFT if name == "left" else Op.WORD_RIGHT)
            return Edit(Op.LEFT if name == "left" else Op.RIGHT)
        if name in ("up", "page_up"):
            return Edit(Op.UP)
        if name in ("down", "page_down"):
            return Edit(Op.DOWN)
        if name == "home":
            return Edit(Op.HOME)
        if name == "end":
            return Edit(Op.END)
        if name in ("enter", "tab"):
            # Return is a newline (or "send"); Tab moves to the next field. Either way the text on
            # both sides is not one phrase, which a newline keeps apart for detection.
            self._dead = None
            return Edit(Op.NEWLINE)
        return None  # Escape, function keys, media keys, locks: no text

    def _character(self, stroke: KeyStroke) -> Edit | None:
        if self._ctrl or self._cmd:
            self._dead = None
            ch = stroke.char.lower()
            if ch in _CLEARING_SHORTCUTS:
                return Edit(Op.CLEAR)
            if ch == "w" and self._ctrl:
                return Edit(Op.BACKSPACE_WORD)  # readline / terminal word rub-out
            if ch == "h" and self._ctrl:
                return Edit(Op.BACKSPACE)
            return None
        if self._alt and not self._alt_types_text:
            return None
        if stroke.dead:
            self._dead = stroke
            return None
        char = stroke.char
        if self._alt_gr and self._level3 is not None and stroke.vk and stroke.mods < 0:
            char = self._level3(stroke.vk, bool(self._shift)) or char
        if not char or any(unicodedata.category(c) == "Cc" for c in char):
            return None
        if self._dead is not None:
            char = _compose(self._dead, char)
            self._dead = None
        return Edit(Op.INSERT, char)


def _compose(dead: KeyStroke, char: str) -> str:
    """Apply a dead key to the next character the way input methods do."""
    if char == " ":
        return dead.char or ""  # dead key + space types the accent itself
    if dead.combining:
        composed = unicodedata.normalize("NFC", char + dead.combining)
        if len(composed) == 1:
            return composed
    return (dead.char or "") + char  # no composition exists: both characters


#: The consumer's queue put: (pynput key, pressed, monotonic time); convert with
#: :func:`stroke_from_pynput` on the consumer side.
KeyCallback = Callable[[Any, bool, float], None]


class KeyboardListener:
    """pynput's keyboard listener behind checks that keep it from hanging or failing silently."""

    def __init__(self, backend: PlatformBackend) -> None:
        self._backend = backend
        self._listener: Any = None
        self._status = unavailable("not started")

    def start(self, on_key: KeyCallback) -> str:
        """Start listening; returns the keyboard capability string. Never blocks for long."""
        if self._listener is not None:
            return self.status()
        status = self._backend.keyboard_status()
        if status != OK:
            self._status = status
            return status
        try:
            self._backend.prepare_keyboard()
            from pynput import keyboard  # after prepare_keyboard(): needs $DISPLAY at import
        except Exception as exc:  # ImportError, or Xlib errors raised from pynput's import
            self._status = unavailable(f"pynput unavailable ({type(exc).__name__})")
            return self._status

        monotonic = time.monotonic

        # The callbacks run on pynput's thread and must stay a queue put: anything slower delays
        # every later key. Conversion (stroke_from_pynput) happens on the consumer thread.
        def on_press(key: Any) -> None:
            on_key(key, True, monotonic())

        def on_release(key: Any) -> None:
            on_key(key, False, monotonic())

        listener = keyboard.Listener(on_press=on_press, on_release=on_release)
        listener.daemon = True
        listener.start()
        self._backend.attach_keyboard(listener)
        self._listener = listener
        self._status = OK
        return OK

    def status(self) -> str:
        """``"ok"`` while pynput's thread is alive."""
        if self._status == OK and self._listener is not None and not self._listener.is_alive():
            return unavailable("keyboard listener stopped")
        return self._status

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the listener. pynput's ``stop()`` can block in ``wait()`` if the listener never got
        ready, so it runs on a helper thread that is abandoned after ``timeout``."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._backend.detach_keyboard(listener)
        stopper = threading.Thread(
            target=_stop_pynput, args=(listener,), name="lantern-kbd-stop", daemon=True
        )
        stopper.start()
        stopper.join(timeout)
        listener.join(max(0.0, timeout - 0.1))
        if listener.is_alive():
            log.warning("keyboard listener did not stop within %.1fs", timeout)
        self._status = unavailable("stopped")


def _stop_pynput(listener: Any) -> None:
    """Stop a pynput listener so that its thread really ends.

    On X11, pynput's ``stop()`` queues ``RecordDisableContext`` on the recording connection but
    does not flush it: the thread blocked in ``record_enable_context`` only wakes on the next key
    (measured: without a key press it never stops). Disabling the context from pynput's second
    connection and flushing it, as the RECORD spec intends, ends the recording at once.
    """
    listener.stop()
    context = getattr(listener, "_context", None)
    control = getattr(listener, "_display_stop", None)
    if context is None or control is None:
        return  # not the X11 backend, or the recording never started
    try:
        control.record_disable_context(context)
        control.flush()
    except Exception:  # the listener closed it first, or the X server is gone: nothing to stop
        pass
