"""The lexicon is reviewed data: every entry is complete and well-formed."""

from pathlib import Path

import pytest

from lantern.detection import Engine
from lantern.detection.lexicon import CATEGORIES, LexiconError, load_lexicon, site_phrase


def test_every_entry_has_provenance_and_valid_fields() -> None:
    lex = load_lexicon()
    ids = [e.id for e in lex.entries]
    assert len(ids) == len(set(ids))
    for e in lex.entries:
        assert e.category in CATEGORIES
        assert e.id.startswith(e.category + ".")
        assert 1 <= e.severity <= 5
        assert e.applies_to and e.applies_to <= {"typed", "title"}
        assert e.added_by and e.reason and e.review_date
        assert e.phrases or e.all_of


def test_categories_and_languages_are_covered() -> None:
    lex = load_lexicon()
    cats = {e.category for e in lex.entries}
    assert cats == set(CATEGORIES)
    for cat in ("suicide", "self_harm", "cse", "violence"):
        langs = {e.language for e in lex.entries if e.category == cat}
        assert {"en", "pl", "ur-Latn", "ar", "ro", "cy"} <= langs, cat


def test_negation_word_no_is_not_read_as_false() -> None:
    lex = load_lexicon()
    assert "no" in lex.cues["negation"].phrases


def test_site_phrase() -> None:
    assert site_phrase("www.bet365.com") == "bet365"
    assert site_phrase("williamhill.co.uk") == "williamhill"
    assert site_phrase("Talk to Frank") == "talk to frank"


def test_malformed_lexicon_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "suicide.yaml").write_text(
        "category: suicide\nentries:\n  - id: suicide.x\n    phrases: [a b]\n    severity: 9\n"
        "    added_by: me\n    reason: r\n    review_date: 2027-01-01\n"
    )
    with pytest.raises(LexiconError, match="severity"):
        load_lexicon(tmp_path)


def test_custom_lexicon_dir(tmp_path: Path) -> None:
    (tmp_path / "violence.yaml").write_text(
        "category: violence\ndefaults: {added_by: t, review_date: 2027-01-01}\n"
        "entries:\n  - id: violence.t\n    phrases: [smash the window]\n    severity: 3\n"
        "    reason: test\n"
    )
    e = Engine.load(tmp_path, cache=False)
    assert [h.rule for h in e.scan("i will smash the window")] == ["violence.t"]
    assert e.version != Engine.load().version


@pytest.mark.parametrize(
    "text",
    [
        "ok i'll see you at the van, dat wat i said you paki",
        "per my last message, die hard fans met you at la liga you paki",
    ],
)
def test_english_and_chat_words_are_not_read_as_another_language(engine: Engine, text: str) -> None:
    # "I'll" normalises to "il", "ook" to "ok": cue words of the other_language cue must not be
    # English words or chat spellings, or an English slur is lowered as if it were Dutch
    hits = engine.scan(text, include_cancelled=True)
    assert any(h.severity >= 3 and h.rule == "discrimination.slur_race" for h in hits)
    assert all("other_language" not in h.reasons for h in hits)


def test_cue_phrases_are_lists_of_strings() -> None:
    lex = load_lexicon()
    for cue in lex.cues.values():
        assert cue.phrases and all(isinstance(p, str) and p.strip() for p in cue.phrases), cue.name
    # the cigarette sense needs more than "a fag" ("you're a fag" is the slur)
    assert "a fag" not in lex.cues["homonym_cigarette"].phrases
