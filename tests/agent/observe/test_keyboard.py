from agent.observe.keyboard import KeyDecoder, KeyStroke
from agent.observe.typed_text import Edit, Op, TypedBuffer


def press(dec: KeyDecoder, *keys: KeyStroke) -> list[Edit | None]:
    out = []
    for k in keys:
        out.append(dec.feed(k, True))
        dec.feed(k, False)
    return out


def ch(c: str) -> KeyStroke:
    return KeyStroke(char=c)


def named(n: str) -> KeyStroke:
    return KeyStroke(name=n)


def run(dec: KeyDecoder, *keys: KeyStroke) -> str:
    buf = TypedBuffer()
    for e in press(dec, *keys):
        if e is not None:
            buf.apply(e)
    return buf.text


def test_characters_space_and_editing_keys() -> None:
    dec = KeyDecoder()
    text = run(
        dec,
        ch("h"),
        ch("i"),
        named("space"),
        ch("x"),
        named("backspace"),
        ch("y"),
        named("left"),
        named("left"),
        named("delete"),
        named("end"),
        named("enter"),
    )
    assert text == "hiy\n"


def test_ctrl_shortcuts_do_not_type_and_select_all_clears() -> None:
    dec = KeyDecoder()
    ctrl = named("ctrl_l")
    assert dec.feed(ctrl, True) is None
    assert dec.feed(ch("s"), True) is None  # Ctrl+S saves: no text
    assert dec.feed(ch("a"), True) == Edit(Op.CLEAR)
    assert dec.feed(named("backspace"), True) == Edit(Op.BACKSPACE_WORD)
    dec.feed(ctrl, False)
    assert dec.feed(ch("a"), True) == Edit(Op.INSERT, "a")


def test_alt_accelerators_do_not_type_on_pc() -> None:
    dec = KeyDecoder(alt_types_text=False)
    dec.feed(named("alt"), True)
    assert dec.feed(ch("f"), True) is None
    dec.feed(named("alt"), False)
    assert dec.feed(ch("f"), True) == Edit(Op.INSERT, "f")


def test_option_types_text_on_mac() -> None:
    dec = KeyDecoder(alt_types_text=True)
    dec.feed(named("alt"), True)
    assert dec.feed(ch("é"), True) == Edit(Op.INSERT, "é")


def test_dead_keys_compose() -> None:
    dec = KeyDecoder()
    circumflex = KeyStroke(char="^", dead=True, combining="\u0302")
    assert run(dec, circumflex, ch("e"), circumflex, named("space"), circumflex, ch("q")) == "ê^^q"


def test_control_characters_and_unknown_keys_are_ignored() -> None:
    dec = KeyDecoder()
    assert run(dec, ch("\x03"), named("f5"), named("esc"), KeyStroke(), ch("ok")) == "ok"


def test_tab_separates_fields() -> None:
    assert run(KeyDecoder(), ch("a"), named("tab"), ch("b")) == "a\nb"


def test_repr_redacts_characters() -> None:
    assert "s" not in repr(KeyStroke(char="s")).split("char=")[1].replace("redacted", "")


def test_altgr_uses_the_platform_level3_translation() -> None:
    table = {(0x34, False): "€", (0x34, True): "¼"}
    dec = KeyDecoder(level3=lambda vk, shift: table.get((vk, shift)))
    four = KeyStroke(char="4", vk=0x34)
    assert dec.feed(four, True) == Edit(Op.INSERT, "4")
    dec.feed(named("alt_gr"), True)
    assert dec.feed(four, True) == Edit(Op.INSERT, "€")
    dec.feed(named("shift"), True)
    assert dec.feed(KeyStroke(char="$", vk=0x34), True) == Edit(Op.INSERT, "¼")
    dec.feed(named("shift"), False)
    assert dec.feed(KeyStroke(char="q", vk=0x71), True) == Edit(Op.INSERT, "q")  # no level 3
    dec.feed(named("alt_gr"), False)
    assert dec.feed(four, True) == Edit(Op.INSERT, "4")


def test_iso_level3_shift_keysym_is_altgr() -> None:
    from agent.observe.keyboard import stroke_from_pynput

    class FakeKeyCode:
        vk = 0xFE03
        char = None
        is_dead = False

    assert stroke_from_pynput(FakeKeyCode()) == KeyStroke(name="alt_gr")
