"""The college's own keyword changes (console policy editor) change what the engine finds."""

from lantern.detection import Engine
from lantern.detection.lexicon import LocalKeyword


def test_added_keywords_alert_and_removed_rules_go_and_the_version_changes() -> None:
    base = Engine.load()
    local = [
        LocalKeyword(1, "add", "vape shop near college", "drugs", 3),
        LocalKeyword(2, "remove", "kms", "suicide", 0),
    ]
    engine = Engine.load(local=local)
    assert engine.version != base.version
    hits = engine.scan("where is the vape shop near college", "typed")
    assert [(h.rule, h.category, h.severity) for h in hits] == [("drugs.local_1", "drugs", 3)]
    assert base.scan("where is the vape shop near college", "typed") == []
    assert [h.rule for h in base.scan("i want to kms", "typed")] == ["suicide.kms"]
    assert engine.scan("i want to kms", "typed") == []
    assert engine.scan("i want to kill myself", "typed")  # the rest of the lexicon stays
