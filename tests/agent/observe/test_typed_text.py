from agent.observe.typed_text import Edit, Op, TypedBuffer


def typed(*edits: Edit | str, limit: int = 512) -> TypedBuffer:
    buf = TypedBuffer(limit)
    for e in edits:
        buf.apply(Edit(Op.INSERT, e) if isinstance(e, str) else e)
    return buf


def test_insert_and_backspace() -> None:
    buf = typed("I want to kiss", Edit(Op.BACKSPACE), Edit(Op.BACKSPACE), "ll")
    assert buf.text == "I want to kill"


def test_left_right_insert_in_middle() -> None:
    buf = typed("kil myself", *[Edit(Op.LEFT)] * 7, "l", Edit(Op.END))
    assert buf.text == "kill myself"
    assert buf.cursor == len(buf.text)


def test_delete_forward_and_home_end() -> None:
    buf = typed("xxhello", Edit(Op.HOME), Edit(Op.DELETE), Edit(Op.DELETE), Edit(Op.END), "!")
    assert buf.text == "hello!"


def test_home_end_are_per_line_and_newline_separates() -> None:
    buf = typed("first", Edit(Op.NEWLINE), "second", Edit(Op.HOME), ">")
    assert buf.text == "first\n>second"
    buf.apply(Edit(Op.END))
    buf.apply(Edit(Op.INSERT, "<"))
    assert buf.text == "first\n>second<"


def test_up_down_keep_column() -> None:
    buf = typed("abcdef", Edit(Op.NEWLINE), "xy", Edit(Op.UP), "1")
    assert buf.text == "ab1cdef\nxy"
    buf.apply(Edit(Op.DOWN))
    buf.apply(Edit(Op.INSERT, "2"))
    assert buf.text == "ab1cdef\nxy2"
    buf.apply(Edit(Op.UP))
    buf.apply(Edit(Op.UP))  # on the first line: to the start
    buf.apply(Edit(Op.INSERT, "^"))
    assert buf.text.startswith("^ab1")


def test_word_edits() -> None:
    buf = typed("hate you  ", Edit(Op.BACKSPACE_WORD))
    assert buf.text == "hate "
    buf = typed("one two three", Edit(Op.WORD_LEFT), Edit(Op.WORD_LEFT), Edit(Op.DELETE_WORD))
    assert buf.text == "one  three"


def test_backspace_at_start_and_delete_at_end_are_harmless() -> None:
    buf = typed(Edit(Op.BACKSPACE), Edit(Op.DELETE), "a", Edit(Op.DELETE), Edit(Op.RIGHT))
    assert buf.text == "a"
    assert not buf.apply(Edit(Op.LEFT))  # cursor moves only: text unchanged


def test_clear_resets_everything() -> None:
    buf = typed("secret")
    gen = buf.generation
    buf.apply(Edit(Op.CLEAR))
    assert buf.text == "" and buf.cursor == 0 and buf.generation == gen + 1


def test_bounded_trims_oldest_in_chunks() -> None:
    buf = TypedBuffer(limit=64)
    for _ in range(100):
        buf.insert("abcd")
    assert len(buf) <= 64
    assert buf.cursor == len(buf)
    assert buf.front_trimmed == 400 - len(buf)
    # After a trim there is room again: the next keystrokes do not trim.
    gen = buf.generation
    buf.insert("z")
    assert buf.generation == gen or len(buf) == 64


def test_trim_keeps_text_near_cursor() -> None:
    buf = TypedBuffer(limit=16)
    buf.insert("0123456789abcdef")
    buf.apply(Edit(Op.HOME))
    buf.insert("X")  # typing at the start: drop the end, not what is being typed
    assert buf.text.startswith("X0123")


def test_repr_never_shows_text() -> None:
    buf = typed("canary-phrase-123")
    assert "canary" not in repr(buf)
    assert "canary" not in repr(Edit(Op.INSERT, "canary"))
