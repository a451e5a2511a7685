"""The lean RECORD reader's parsing and key translation, on synthetic protocol bytes."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from agent.observe.keyboard import KeyStroke
from agent.platform.x11_record import X11KeyRecorder

# keycode -> keysym columns (G1L1, G1L2, G2L1, G2L2, G1L3, G1L4), like a "gb,ru" core keymap.
KEYMAP = {
    38: (ord("a"), ord("A"), 0x6C6, 0x6E6, 0xE6, 0xC6),  # a A Cyrillic_ef EF ae AE
    13: (ord("4"), ord("$"), ord("4"), ord("$"), 0x20AC, 0xBD),  # 4 $ … EuroSign onehalf
    22: (0xFF08,),  # BackSpace
    37: (0xFFE3,),  # Control_L
    48: (0xFE51, 0xFE57),  # dead_acute dead_diaeresis
    87: (0xFF9C, 0xFFB1),  # KP_End KP_1
}
LEVEL3 = 0x80  # Mod5
NUMLOCK = 0x10  # Mod2


@pytest.fixture
def recorder() -> X11KeyRecorder:
    rec = X11KeyRecorder(":0")
    rec._min_keycode = 8
    rec._keymap = [KEYMAP.get(k, ()) for k in range(8, 256)]
    rec._masks = {"level3": LEVEL3, "numlock": NUMLOCK}
    rec._index_keymap()
    return rec


def key_event(press: bool, keycode: int, state: int) -> bytes:
    ev = bytearray(32)
    ev[0] = 2 if press else 3
    ev[1] = keycode
    struct.pack_into("=H", ev, 28, state)
    return bytes(ev)


def reply(*events: bytes, category: int = 0) -> bytes:
    data = b"".join(events)
    return struct.pack("=BBHI", 1, category, 0, len(data) // 4) + bytes(24) + data


def strokes(rec: X11KeyRecorder, data: bytes) -> tuple[list[tuple[Any, bool]], bytes, bool]:
    out: list[tuple[Any, bool]] = []
    rest, done = rec._parse(data, lambda k, pressed, t: out.append((k, pressed)))
    return out, rest, done


@pytest.mark.parametrize(
    ("keycode", "state", "expected"),
    [
        (38, 0, KeyStroke(char="a", vk=ord("a"))),
        (38, 1, KeyStroke(char="A", vk=ord("A"))),
        (38, 2, KeyStroke(char="A", vk=ord("a"))),  # Caps Lock
        (38, 1 << 13, KeyStroke(char="ф", vk=0x6C6)),  # second group
        (38, LEVEL3, KeyStroke(char="æ", vk=0xE6)),  # AltGr
        (13, LEVEL3, KeyStroke(char="€", vk=0x20AC)),
        (13, LEVEL3 | 1, KeyStroke(char="½", vk=0xBD)),
        (22, 4, KeyStroke(name="backspace")),
        (37, 0, KeyStroke(name="ctrl_l")),
        (48, 0, KeyStroke(char="´", dead=True, combining="\u0301", vk=0xFE51)),
        (87, 0, KeyStroke(name="end")),
        (87, NUMLOCK, KeyStroke(char="1", vk=0xFFB1)),
        (200, 0, KeyStroke()),  # no symbols
    ],
)
def test_translation(
    recorder: X11KeyRecorder, keycode: int, state: int, expected: KeyStroke
) -> None:
    assert recorder._stroke(keycode, state) == expected


def test_parses_batched_events_and_partial_replies(recorder: X11KeyRecorder) -> None:
    data = reply(key_event(True, 38, 0), key_event(True, 13, 1)) + reply(key_event(True, 22, 0))
    got, rest, done = strokes(recorder, data[:100])  # first reply whole, second cut short
    assert [(k.char, p) for k, p in got] == [("a", True), ("$", True)]
    assert not done and rest == data[96:100]
    got, rest, done = strokes(recorder, rest + data[100:])
    assert [(k.name, p) for k, p in got] == [("backspace", True)]
    assert rest == b"" and not done


def test_strokes_carry_the_held_modifiers_and_are_cached_per_state(
    recorder: X11KeyRecorder,
) -> None:
    from agent.observe.keyboard import MOD_ALT_GR, MOD_CTRL, MOD_SHIFT, KeyDecoder
    from agent.observe.typed_text import Op

    got, _, _ = strokes(
        recorder,
        reply(key_event(True, 38, 4), key_event(True, 38, 0), key_event(True, 38, 4)),
    )
    ctrl_a, a, again = (k for k, _ in got)
    assert (ctrl_a.char, ctrl_a.mods, a.mods) == ("a", MOD_CTRL, 0)
    assert again is ctrl_a  # one translation per (key, state), then a dictionary look-up
    assert recorder._stroke(13, LEVEL3 | 1).mods == MOD_ALT_GR | MOD_SHIFT
    decoder = KeyDecoder(level3=lambda *_: "wrong")  # never asked: the stroke is final
    edits = [decoder.feed(k, True) for k in (ctrl_a, a, recorder._stroke(13, LEVEL3))]
    assert [e.op if e else None for e in edits] == [Op.CLEAR, Op.INSERT, Op.INSERT]
    assert edits[2] is not None and edits[2].text == "€"
    recorder._index_keymap()  # MappingNotify: the cache starts again
    assert recorder._cache == {}


def test_legacy_keysyms_have_their_characters() -> None:
    from agent.platform.x11_keysyms import keysym_char

    assert keysym_char(0x6C1) == "а"  # Cyrillic_a
    assert keysym_char(0x1B1) == "ą"  # aogonek (Latin-2)
    assert keysym_char(0x7E1) == "α"  # Greek_alpha
    assert keysym_char(0x20AC) == "€"  # EuroSign
    assert keysym_char(0x1000263) == "ɣ"  # a Unicode keysym
    assert keysym_char(0xFFBE) == ""  # F1 types nothing


def test_end_of_data_ends_the_stream(recorder: X11KeyRecorder) -> None:
    _, _, done = strokes(recorder, reply(category=5))
    assert done


def test_an_x_error_is_raised(recorder: X11KeyRecorder) -> None:
    with pytest.raises(RuntimeError):
        strokes(recorder, bytes([0, 3]) + bytes(30))
