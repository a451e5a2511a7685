"""The engine the agent loads stays small (the agent's whole budget is 40 MB RSS)."""

import gc
import tracemalloc

from lantern.detection import Engine


def test_loaded_engine_is_small() -> None:
    Engine.load()  # compile and cache first, so the measured load is the agent's usual one
    gc.collect()
    tracemalloc.start()
    try:
        engine = Engine.load()
        gc.collect()
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.scan("i want to kill myself")
    # measured 11 MiB (bench/detection/run.py reports RSS); 45 MiB before the compact tables
    assert size < 14 * 2**20


def test_word_memory_stays_within_its_bound() -> None:
    engine = Engine.load(word_memory=50)
    for i in range(200):
        engine.scan(f"title number {i} about word{i} and thing{i * 7} - Browser", "title")
    remembered = len(engine._seen) + len(engine._alarm)
    assert 0 < remembered <= 50 + 12  # one text's words may cross the bound
    engine.forget_words()
    assert not engine._seen and not engine._quiet
