"""The compiled-engine cache: used when trusted, rebuilt when absent, optional."""

import os
from pathlib import Path

import pytest

from lantern.detection import Engine


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANTERN_DETECTION_CACHE", str(tmp_path / "c"))
    first = Engine.load(categories=["suicide"])
    files = list((tmp_path / "c").glob("engine-*.pickle"))
    assert len(files) == 1
    assert os.stat(files[0]).st_mode & 0o077 == 0
    second = Engine.load(categories=["suicide"])
    assert second.version == first.version
    assert [h.rule for h in second.scan("i want to kill myself")] == ["suicide.kill_myself"]


def test_untrusted_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "c"
    monkeypatch.setenv("LANTERN_DETECTION_CACHE", str(d))
    Engine.load(categories=["violence"])
    (f,) = d.glob("engine-*.pickle")
    f.write_bytes(b"not a pickle")
    os.chmod(f, 0o666)  # world-writable: must not be read
    e = Engine.load(categories=["violence"])
    assert e.scan("im going to stab him")


def test_cache_can_be_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANTERN_DETECTION_CACHE", "0")
    monkeypatch.setenv("HOME", str(tmp_path))
    Engine.load(categories=["gambling"])
    assert not list(tmp_path.rglob("engine-*.pickle"))


def test_engine_with_college_keywords_is_cached_per_keyword_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lantern.detection.lexicon import LocalKeyword

    monkeypatch.setenv("LANTERN_DETECTION_CACHE", str(tmp_path / "c"))
    one = [LocalKeyword(1, "add", "vape shop near college", "drugs", 3)]
    two = [LocalKeyword(2, "add", "meet behind the gym", "bullying", 3)]
    Engine.load(categories=["drugs", "bullying"], local=one)
    again = Engine.load(categories=["drugs", "bullying"], local=one)
    assert len(list((tmp_path / "c").glob("engine-*.pickle"))) == 1
    assert [h.rule for h in again.scan("the vape shop near college")] == ["drugs.local_1"]
    other = Engine.load(categories=["drugs", "bullying"], local=two)
    assert len(list((tmp_path / "c").glob("engine-*.pickle"))) == 2
    assert other.scan("the vape shop near college") == []
    assert [h.rule for h in other.scan("meet behind the gym")] == ["bullying.local_2"]
