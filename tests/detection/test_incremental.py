from lantern.detection import Engine


def type_text(engine: Engine, text: str) -> list[tuple[int, str]]:
    inc = engine.incremental()
    buf = ""
    out = []
    for ch in text:
        buf += ch
        out.extend((len(buf), h.rule) for h in inc.update(buf))
    return out


def test_reports_once_when_the_boundary_is_typed(engine: Engine) -> None:
    got = type_text(engine, "i want to kill myself now please")
    assert got == [(22, "suicide.kill_myself")]


def test_no_partial_word_hits(engine: Engine) -> None:
    # "kms" is a prefix of "kmsx": nothing until the word is finished
    assert type_text(engine, "kmsx ") == []


def test_backspace_and_retype_is_not_reported_twice(engine: Engine) -> None:
    inc = engine.incremental()
    assert inc.update("i want to kill myself ")
    assert inc.update("i want to kill mysel") == []
    assert inc.update("i want to kill myself") == []
    assert inc.update("i want to kill myself ") == []


def test_reset_forgets(engine: Engine) -> None:
    inc = engine.incremental()
    assert inc.update("kys ")
    inc.reset()
    assert inc.update("kys ")


def test_flush_reports_the_pending_tail(engine: Engine) -> None:
    inc = engine.incremental()
    assert inc.update("i want to kill myself") == []
    (h,) = inc.flush()
    assert h.rule == "suicide.kill_myself"
    assert inc.flush() == []


def test_edit_in_the_middle(engine: Engine) -> None:
    inc = engine.incremental()
    assert inc.update("hello there my friend ") == []
    hits = inc.update("hello kys there my friend ")
    assert [h.rule for h in hits] == ["bullying.kys"]
    assert hits[0].start == 6


def test_agent_trims_the_head_of_the_buffer(engine: Engine) -> None:
    inc = engine.incremental()
    head = "the weather is nice today and " * 4
    assert inc.update(head + "kys ")
    # the agent drops the first quarter of a long buffer; the hit must not come back
    trimmed = (head + "kys ")[len(head) // 4 :]
    assert inc.update(trimmed) == []
    assert [h.rule for h in inc.update(trimmed + "i want to kill myself ")] == [
        "suicide.kill_myself"
    ]


def test_hits_are_bounded_and_offsets_absolute(engine: Engine) -> None:
    inc = engine.incremental()
    text = "hello " * 60 + "i want to kill myself "
    (h,) = inc.update(text)
    assert text[h.start : h.end] == "kill myself"
    assert len(h.snippet) <= 80
