"""The normaliser: one canonical form for text and lexicon phrases, with offsets back."""

import pytest

from lantern.detection import Engine
from lantern.detection.normalise import Normaliser


@pytest.fixture(scope="module")
def norm(engine: Engine) -> Normaliser:
    return engine.normaliser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World. Bye!", "helo world . bye ."),  # casefold, squeeze, sentence tokens
        ("KILLLLL", "kil"),  # stretched letters
        ("k1ll", "kil"),  # leet inside a word
        ("$hit h@te", "shit hate"),
        ("call 455 or 07700 900455", "cal 455 or 07700 900455"),  # pure numbers untouched
        ("k i l l", "kil"),  # spaced letters
        ("k.i.l.l", "kil"),
        ("ki\u200bll", "kil"),  # zero-width removed
        ("don't", "dont"),  # apostrophe inside a word
        ("café", "cafe"),  # diacritics
        ("Ｆｕｌｌ", "ful"),  # NFKC width
        ('he said "stop"', 'he said " stop "'),  # quotation marks are tokens
        ("@someone hi #blessed", "hi blesed"),  # mentions dropped, hashtags kept
    ],
)
def test_normal_form(norm: Normaliser, text: str, expected: str) -> None:
    assert norm.normalise(text) == expected


def test_homoglyphs_only_inside_latin_words(norm: Normaliser) -> None:
    assert norm.normalise("k\u0456ll") == "kil"  # Cyrillic i inside a Latin word
    assert norm.normalise("убить") == "убить"  # a Russian word stays Russian


def test_masks_resolve_against_the_lexicon(norm: Normaliser) -> None:
    assert norm.normalise("f*ggot") == "fagot"
    assert norm.normalise("sh*t") in {"shit", "shot"}


def test_ambiguous_leet_prefers_a_lexicon_word(norm: Normaliser) -> None:
    assert norm.normalise("k1ll") == "kil"
    assert norm.normalise("1d1ot") == "idiot"


def test_mapped_offsets_point_into_the_original(norm: Normaliser) -> None:
    text = "Well... I want to K1LLLL   myself!!"
    s, off = norm.normalise_mapped(text)
    assert len(off) == len(s)
    i = s.index("kil")
    assert text[off[i]] == "K"
    j = s.index("myself")
    assert text[off[j] : off[j + 5] + 1] == "myself"


def test_screen_keeps_the_letters_of_the_normal_form(norm: Normaliser) -> None:
    for text in ["I hate it. Really!", "k1ll myself", "going to the shop, then home"]:
        screen = norm.screen(text)
        assert screen.replace(" ", "").replace(".", "") == (
            norm.normalise(text).replace(" ", "").replace(".", "")
        )


@pytest.mark.parametrize(
    "text",
    [
        "Weather in Scunthorpe tomorrow - BBC Weather",
        "Penistone, Yorkshire: (the) 'best' town!",
        'He said "everything together" - Google Chrome',
        "nothing... absolutely nothing; everything?",
    ],
)
def test_mapped_form_is_the_normal_form(norm: Normaliser, text: str) -> None:
    # the offset-keeping path skips steps that change nothing; the text must not differ
    s, off = norm.normalise_mapped(text)
    # (the mapped path may also split run-together words: only spaces differ)
    assert s.replace(" ", "") == norm.normalise(text).replace(" ", "")
    assert len(off) == len(s)
    for ch, o in zip(s, off, strict=True):
        if ch.isalnum():
            assert text[o].lower() == ch


def test_word_set_finds_every_word_starting_at_a_position() -> None:
    from lantern.detection.normalise import WordSet

    words = WordSet(["cat", "cats", "catalogue", "catsup", "dog", "do"])
    assert words.ends("xcatsupy", 1, 8) == [4, 5, 7]  # cat, cats, catsup
    assert words.ends("xcatsupy", 1, 5) == [4, 5]  # no further than stop
    assert words.ends("catalogue", 0, 9) == [3, 9]
    assert words.ends("dogs", 0, 4) == [3]  # "do" is shorter than three letters
    assert words.ends("zebra", 0, 5) == []
    assert all(w in words for w in ("cat", "catsup", "do")) and "cata" not in words


def test_run_together_words_split_into_the_fewest_pieces(norm: Normaliser) -> None:
    assert norm.split_words("muchdisdain") == "much disdain"
    assert norm.split_words("therapist") is None  # a word of its own
    assert norm.split_words("hillingdon") is None  # no lexicon word among its pieces
