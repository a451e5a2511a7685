"""Behaviour of the engine on short, hand-written texts (no evaluation data here)."""

import pickle
from dataclasses import FrozenInstanceError

import pytest

from lantern.detection import Engine, Hit
from tests.detection.conftest import alerts


def test_first_person_suicidal_statement_alerts(engine: Engine) -> None:
    hits = engine.scan("i want to kill myself")
    assert [h.category for h in hits] == ["suicide"]
    h = hits[0]
    assert h.severity >= 3
    assert h.rule == "suicide.kill_myself"
    assert h.matched == "kill myself"
    assert h.base_severity == 4
    assert "first_person" in h.reasons
    assert (h.start, h.end) == (10, 21)
    assert h.source == "typed"


def test_neutral_sentence_raises_nothing(engine: Engine) -> None:
    assert engine.scan("the weather is nice today") == []
    assert engine.scan("") == []


@pytest.mark.parametrize(
    "text",
    [
        "kms",
        "i wanna kms",
        "I want to k1ll myself",
        "k i l l myself tonight",
        "killmyself rn",
        "KILL MYSELFFFF",
        "im going to unalive myself",
    ],
)
def test_obfuscated_suicide_alerts(engine: Engine, text: str) -> None:
    assert any(r.startswith("suicide.") for r in alerts(engine, text))


def test_negation_lowers_below_alert(engine: Engine) -> None:
    hits = engine.scan("I don't want to kill myself")
    assert hits and all(h.severity < 3 for h in hits)
    assert "negation" in hits[0].reasons


def test_idiom_cancels(engine: Engine) -> None:
    assert engine.scan("this homework is killing me") == []
    cancelled = engine.scan("this homework is killing me", include_cancelled=True)
    assert all(h.severity == 0 for h in cancelled)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("go kill yourself", "bullying"),
        ("kys", "bullying"),
        ("im going to stab him after school", "violence"),
        ("I cut myself again last night", "self_harm"),
    ],
)
def test_categories(engine: Engine, text: str, category: str) -> None:
    hits = engine.scan(text)
    assert any(h.category == category and h.severity >= 3 for h in hits), hits


def test_no_scunthorpe_problem(engine: Engine) -> None:
    for place in ["Scunthorpe", "Penistone", "Essex", "Middlesex", "Cockermouth", "Shitterton"]:
        assert engine.scan(f"Train times to {place} tomorrow", "title") == []


def test_hit_is_frozen_and_bounded(engine: Engine) -> None:
    text = "x" * 300 + " i want to kill myself " + "y" * 300
    (h,) = engine.scan(text)
    assert isinstance(h, Hit)
    assert len(h.snippet) <= 80 and len(h.matched) <= 64
    assert "kill myself" in h.snippet
    with pytest.raises(FrozenInstanceError):
        h.severity = 1  # type: ignore[misc]


def test_source_filter(engine: Engine) -> None:
    # bullying entries apply to typed text only
    assert alerts(engine, "go kill yourself", "typed")
    assert not alerts(engine, "go kill yourself", "title")


def test_version_and_load_time(engine: Engine) -> None:
    assert len(engine.version) == 16
    fresh = Engine.load()
    assert fresh.version == engine.version
    assert fresh.load_seconds < 2.0  # the 200 ms budget is measured by bench/detection


def test_category_filter() -> None:
    e = Engine.load(categories=["violence"])
    assert e.scan("i want to kill myself") == []
    assert e.scan("im going to stab him")


SCREEN_TEXTS = [
    "Weather in Leeds tomorrow - BBC Weather",
    "i want to kill myself",
    "k i l l myself",
    "KILL MYSELFFFF",
    "aa b c",
    "ihatemuslims and more",
    "Penistone Scunthorpe Essex",
    "y'all don't @someone #hashtag",
    "f*ck th1s $hit",
    "Café crème – “quotes”",
    "Привет мир",
    "",
    "   ...   ",
    "are you in year 9",
    "economic migrants are vermin",
    "1488 heiltonight",
    "Weather in Scunthorpe and Hillingdon",
    "Ø♪ ¿que? ¦ café",
    "Rocky II and Rambo III, k i l l",
    "Rocky II and Rambo III - Google Chrome",
]


@pytest.mark.parametrize("memory", [24_576, 4, 0])
def test_remembered_words_screen_like_the_full_screen(memory: int) -> None:
    """The screen's word memory changes speed only: cold, warm, full memory and the full screen
    agree."""
    eng = Engine.load(word_memory=memory)
    full = [eng.matcher.any_candidate(eng.normaliser.screen(t)) for t in SCREEN_TEXTS]
    assert any(full) and not all(full)
    assert [eng.candidate(t) for t in SCREEN_TEXTS] == full  # learning
    assert [eng.candidate(t) for t in SCREEN_TEXTS] == full  # remembered
    assert bool(eng._seen) == bool(memory)


def test_long_words_reach_the_analysis_only_when_they_may_hide_words(engine: Engine) -> None:
    # a long name holding a lexicon key ("cunt", "shit", "kil") that neither splits into words
    # nor is made of keys and glue words is an ordinary word to the screen
    for title in ("Weather in Scunthorpe", "Middlesbrough v Hillingdon", "Kilnsey Crag walk"):
        assert not engine.candidate(title), title
    # run-together words are read as the words they split into, so they complete a key
    # with the word before them
    assert engine.candidate("1488 heiltonight")
    assert [h.category for h in engine.scan("1488 heiltonight")] == ["extremism"]
    assert engine.candidate("ihatemuslims")  # keys and glue words


def test_symbols_from_other_scripts_are_word_breaks_to_the_screen(engine: Engine) -> None:
    # "¿", "♪", "¦" are punctuation: the cheap screen handles the text, not the full one
    assert engine.normaliser.screen_raw("¿Qué? ♪ kill ¦ myself") == " que    kill   myself"
    assert engine.candidate("¿Qué? ♪ kill ¦ myself")
    assert engine.normaliser.screen_raw("Привет ¿") is None


def test_word_memory_is_bounded_and_not_cached() -> None:
    eng = Engine.load()
    eng.word_memory = 5
    for t in SCREEN_TEXTS:
        eng.candidate(t)
    assert len(eng._seen) + len(eng._alarm) < 5 + 10
    state = eng.__getstate__()
    assert state["_seen"] == {} and state["_quiet"] == set()


def test_every_screen_phrase_passes_the_companion_check(engine: Engine) -> None:
    # each several-word screen key, alone and between other words, still fires the screen
    m = engine.matcher
    m._companion_memo.clear()
    n = 0
    for anchor in sorted(m.screen_anchors):
        for _j, _k, group in m.phrases[anchor]:
            for line in group.strip("\n").split("\n"):
                key, _, value = line.partition("\t")
                if value.startswith("*"):
                    toks = key.split(" ")
                    assert m.phrase_hit(toks), key
                    assert m.phrase_hit(["the", *toks, "today"]), key
                    n += 1
    assert n > 1000
    # the memo is not part of the engine cache
    assert pickle.loads(pickle.dumps(m))._companion_memo == {}


def test_three_letter_tokens_are_not_corrected_by_an_added_first_or_last_letter(
    engine: Engine,
) -> None:
    # "pic" and "hom" are one added letter away from slurs: a three-letter token is the start
    # or end of too many words; a letter missing inside it still counts
    assert engine.fuzzy.lookup("pic") is None
    assert engine.fuzzy.lookup("hom") is None
    assert engine.fuzzy.lookup("hte") == "hate"
    for text in (
        "not going to kill you lol, send the pic",
        "not going to kill you lol, see you at hom time",
    ):
        assert [h.category for h in engine.scan(text) if h.severity >= 3] == []


def test_a_place_spelling_is_not_the_slur(engine: Engine) -> None:
    # "Dyke" and "Nigg" written as the places are (capital, double letter) are lowered below an
    # alert; the same letters written otherwise, or aimed at someone, are not
    for text in ("Is Dyke nice?", "Is Nigg nice?", "Dyke is lovely in spring"):
        assert alerts(engine, text) == [], text
    for text in ("is dyke nice? shes a dyke", "shut up you Dyke", "you DYKE"):
        assert alerts(engine, text), text
