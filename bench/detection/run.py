"""Detection quality and speed benchmark. Prints figures only: ids and aggregates, never case texts.

    .venv/bin/python -m bench.detection.run            # everything
    .venv/bin/python -m bench.detection.run hatecheck davidson --misses

Sections: hatecheck, davidson, benign, toxigen, places, dictionary, functional, speed (load
time, title throughput cold, warm and on titles never seen before, per-keystroke cost, and the
engine's RSS measured in a fresh process).
An alert is a hit at severity >= 3 (any category). Evaluation data is read from
../shared/eval/dev (never copied into the project).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lantern.detection import Engine  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "dev"
HERE = Path(__file__).resolve().parent
DICT = Path("/usr/share/dict/british-english")
ALERT = 3


def alerts(engine: Engine, text: str, source: str = "typed") -> bool:
    return any(h.severity >= ALERT for h in engine.scan(text, source))


def rate(k: int, n: int) -> str:
    return f"{k / n:.3f} ({k}/{n})" if n else "n/a"


# -- HateCheck -----------------------------------------------------------------------------------
def hatecheck(engine: Engine, misses: bool) -> dict[str, float]:
    path = DEV / "hatecheck" / "test_suite_cases.csv"
    by_func: dict[str, list[bool]] = defaultdict(list)
    gold: dict[str, str] = {}
    wrong: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            func = row["functionality"]
            hit = alerts(engine, row["test_case"])
            by_func[func].append(hit)
            gold[func] = row["label_gold"]
            if hit != (row["label_gold"] == "hateful"):
                wrong[func].append(f"{row['case_id']}/t{row['templ_id']}")
    print("\n== HateCheck (Röttger et al. 2021, CC-BY-4.0): alert rate per functionality")
    print(f"{'functionality':24} {'gold':12} {'alert rate':>18}  target")
    tot_h = tot_hn = tot_nh = tot_nhn = 0
    worst_spell = 1.0
    for func in sorted(by_func):
        xs = by_func[func]
        k = sum(xs)
        if gold[func] == "hateful":
            tot_h += k
            tot_hn += len(xs)
            target = ">= 0.80 recall" if func.startswith("spell_") else "recall"
            if func.startswith("spell_"):
                worst_spell = min(worst_spell, k / len(xs))
        else:
            tot_nh += k
            tot_nhn += len(xs)
            target = "<= 0.15 FA" if func.startswith("counter_") else "FA"
        print(f"{func:24} {gold[func]:12} {rate(k, len(xs)):>18}  {target}")
        if misses and wrong[func]:
            print("   wrong:", " ".join(wrong[func][:40]))
    print(f"hateful recall overall      {rate(tot_h, tot_hn)}   target >= 0.80")
    print(f"non-hateful false alerts    {rate(tot_nh, tot_nhn)}   target <= 0.10")
    print(f"precision (alerts on hateful cases) {rate(tot_h, tot_h + tot_nh)}")
    return {
        "hatecheck_recall": tot_h / tot_hn,
        "hatecheck_fa": tot_nh / tot_nhn,
        "hatecheck_worst_spell": worst_spell,
    }


# -- Davidson -------------------------------------------------------------------------------------
def davidson(engine: Engine, misses: bool) -> dict[str, float]:
    path = DEV / "davidson2017" / "dev.jsonl"
    counts: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    cats: dict[str, Counter[str]] = defaultdict(Counter)
    fa_ids: list[str] = []
    miss_ids: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            label = d["label"]
            counts[label] += 1
            found = [h for h in engine.scan(d["text"], "typed") if h.severity >= ALERT]
            if found:
                hits[label] += 1
                for c in {h.category for h in found}:
                    cats[label][c] += 1
                if label == "neither":
                    fa_ids.append(f"{d['id']}:{','.join(sorted({h.rule for h in found}))}")
            elif label == "hate":
                miss_ids.append(str(d["id"]))
    print("\n== Davidson et al. 2017 dev (MIT): alert rate per label")
    for label in ("hate", "offensive", "neither"):
        target = {
            "hate": "recall >= 0.80",
            "neither": "false-alert <= 0.03",
            "offensive": "reported only (dialect bias)",
        }[label]
        print(
            f"{label:10} {rate(hits[label], counts[label]):>22}  {target}  "
            f"by category: {dict(cats[label].most_common(5))}"
        )
    alerts_all = sum(hits.values())
    print(
        f"precision: alerts on hate {rate(hits['hate'], alerts_all)}, on hate or offensive "
        f"{rate(hits['hate'] + hits['offensive'], alerts_all)}"
    )
    if misses:
        print("   neither false alerts:", " ".join(fa_ids[:60]))
        print("   hate misses:", " ".join(miss_ids[:60]))
    return {
        "davidson_hate_recall": hits["hate"] / counts["hate"],
        "davidson_neither_fa": hits["neither"] / counts["neither"],
        "davidson_offensive_rate": hits["offensive"] / counts["offensive"],
    }


# -- benign paragraphs ----------------------------------------------------------------------------
def benign(engine: Engine, misses: bool) -> dict[str, float]:
    print(
        "\n== Benign paragraphs (WikiText-2 valid CC BY-SA 3.0, MASC, State of the Union): "
        "alert rate (target <= 0.005)"
    )
    tot = tot_k = 0
    for path in sorted((DEV / "benign").glob("*.jsonl")):
        groups: dict[str, list[bool]] = defaultdict(list)
        ids: list[str] = []
        with path.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                found = [h for h in engine.scan(d["text"], "typed") if h.severity >= ALERT]
                groups[str(d.get("genre", "all"))].append(bool(found))
                if found:
                    ids.append(f"{d['id']}:{','.join(sorted({h.rule for h in found}))}")
        k = sum(sum(v) for v in groups.values())
        n = sum(len(v) for v in groups.values())
        tot += n
        tot_k += k
        detail = ""
        if len(groups) > 1:
            detail = "  " + ", ".join(f"{g} {sum(v)}/{len(v)}" for g, v in sorted(groups.items()))
        print(f"{path.stem:18} {rate(k, n):>20}{detail}")
        if misses and ids:
            print("   alerts:", " ".join(ids[:40]))
    print(f"{'all benign':18} {rate(tot_k, tot):>20}")
    return {"benign_alert_rate": tot_k / tot}


# -- ToxiGen (reported, no target) ------------------------------------------------------------------
def toxigen(engine: Engine, misses: bool) -> dict[str, float]:
    base = DEV / "toxigen_demonstrations" / "demonstrations"
    res: dict[str, list[bool]] = defaultdict(list)
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        kind = "hate" if path.name.startswith("hate") else "neutral"
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().lstrip("-").strip()
            if line:
                res[kind].append(alerts(engine, line))
    print("\n== ToxiGen demonstrations (implicit hate; reported only, no target)")
    for kind, xs in sorted(res.items()):
        print(f"{kind:10} alert rate {rate(sum(xs), len(xs))}")
    return {}


# -- UK place names and the dictionary ----------------------------------------------------------------
PLACE_TEMPLATES = (
    ("{}", "title"),
    ("Weather in {} tomorrow - BBC Weather", "title"),
    ("I live in {} with my mum", "typed"),
    ("train from {} to London", "typed"),
)


def places(engine: Engine, misses: bool) -> dict[str, float]:
    names = [
        x.strip()
        for x in (HERE / "data" / "uk_places.txt").read_text(encoding="utf-8").splitlines()
        if x.strip() and not x.startswith("#")
    ]
    any_hit = 0
    any_alert = 0
    bad: list[str] = []
    for name in names:
        hit = alert = False
        for tpl, src in PLACE_TEMPLATES:
            hs = engine.scan(tpl.format(name), src)
            hit |= bool(hs)
            alert |= any(h.severity >= ALERT for h in hs)
        any_hit += hit
        any_alert += alert
        if hit:
            bad.append(name)
    print(f"\n== UK place names ({len(names)} names x {len(PLACE_TEMPLATES)} contexts)")
    print(f"names with any hit   {rate(any_hit, len(names))}")
    print(f"names with an alert  {rate(any_alert, len(names))}   target 0")
    if bad:
        print("   names with hits:", ", ".join(bad[:50]))
    return {"places_alert": any_alert, "places_hit": any_hit}


def dictionary(engine: Engine, misses: bool) -> dict[str, float]:
    if not DICT.exists():
        print(
            "\n== dictionary: /usr/share/dict/british-english not installed (apt install wbritish)"
        )
        return {}
    words = [w for w in DICT.read_text(encoding="utf-8").splitlines() if w.strip()]
    hit_words: list[str] = []
    for w in words:
        if engine.scan(w, "typed") or engine.scan(w, "title"):
            hit_words.append(w)
    print(f"\n== Debian wbritish dictionary ({len(words)} words, each scanned alone)")
    print(
        f"words with any hit   {len(hit_words)} = {len(hit_words) / len(words):.4%}   "
        "target <= 0.01%"
    )
    if misses and hit_words:
        print("   words:", " ".join(hit_words[:80]))
    return {"dictionary_hit_rate": len(hit_words) / len(words)}


# -- functional suite -------------------------------------------------------------------------------
def functional(engine: Engine, misses: bool) -> dict[str, float]:
    import yaml

    doc = yaml.safe_load((HERE / "functional.yaml").read_text(encoding="utf-8"))
    per_cat: dict[str, Counter[str]] = defaultdict(Counter)
    per_tag: dict[str, list[bool]] = defaultdict(list)
    wrong: list[str] = []
    n_ok = n = 0
    for case in doc["cases"]:
        src = case.get("source", "typed")
        found = {h.category for h in engine.scan(case["text"], src) if h.severity >= ALERT}
        expect = case.get("expect")  # a category, or None for "no alert"
        cat = case["category"]
        if expect:
            ok = expect in found
            per_cat[cat]["pos"] += 1
            per_cat[cat]["tp"] += ok
        else:
            ok = not found
            per_cat[cat]["neg"] += 1
            per_cat[cat]["fp"] += not ok
        # precision: alerts of this category over all cases
        for c in found:
            per_cat[c]["alerts"] += 1
            per_cat[c]["alerts_right"] += c == expect
        for tag in case.get("tags", []):
            per_tag[tag].append(ok)
        n += 1
        n_ok += ok
        if not ok:
            wrong.append(case["id"])
    print(f"\n== Functional suite (bench/detection/functional.yaml, {n} hand-written cases)")
    print(f"{'category':16} {'recall':>14} {'false-alert':>14} {'precision':>14}")
    for cat in sorted(per_cat):
        c = per_cat[cat]
        print(
            f"{cat:16} {rate(c['tp'], c['pos']):>14} {rate(c['fp'], c['neg']):>14} "
            f"{rate(c['alerts_right'], c['alerts']):>14}"
        )
    print("by perturbation / context tag (share of cases handled correctly):")
    for tag in sorted(per_tag):
        xs = per_tag[tag]
        print(f"  {tag:22} {rate(sum(xs), len(xs))}")
    print(f"all cases correct {rate(n_ok, n)}")
    if wrong:
        print("   wrong:", " ".join(wrong))
    return {"functional_correct": n_ok / n}


# -- speed ----------------------------------------------------------------------------------------
def _titles() -> list[str]:
    out: list[str] = []
    for path in sorted((DEV / "benign").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["text"]
                words = text.split()
                for i in range(0, len(words), 9):
                    out.append(" ".join(words[i : i + 9]) + " - Google Chrome")
    return out


_MEMORY_PROBE = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
import psutil
from lantern.detection import Engine
from bench.detection.run import _titles
titles = _titles()
p = psutil.Process()
gc.collect()
before = p.memory_info().rss
engine = Engine.load()
gc.collect()
loaded = p.memory_info().rss
for title in titles:
    engine.scan(title, "title")
gc.collect()
print(json.dumps([before, loaded, p.memory_info().rss, len(engine._seen)]))
"""


def engine_memory() -> tuple[float, float, int]:
    """RSS added by ``Engine.load()`` (from the cache) in a fresh process, and after scanning the
    title corpus once (the screen's word memory filled): MiB, MiB, words remembered."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    before, loaded, scanned, words = json.loads(out)
    return (loaded - before) / 2**20, (scanned - before) / 2**20, words


def _unseen_titles(engine: Engine, titles: list[str]) -> tuple[list[float], list[float]]:
    """Throughput on titles never seen before by an engine that has been running: the titles
    shuffled (seeds 1-3), the first half scanned by a fresh word memory, the second half timed
    (about a fifth of its words are new). MB/s wall and CPU, one figure per seed."""
    wall: list[float] = []
    cpu: list[float] = []
    for seed in (1, 2, 3):
        shuffled = titles[:]
        random.Random(seed).shuffle(shuffled)
        half = len(shuffled) // 2
        engine.forget_words()
        for title in shuffled[:half]:
            engine.scan(title, "title")
        timed = shuffled[half:]
        size = sum(len(t.encode("utf-8")) for t in timed)
        t = time.perf_counter()
        c = time.process_time()
        for title in timed:
            engine.scan(title, "title")
        wall.append(size / (time.perf_counter() - t) / 1e6)
        cpu.append(size / max(time.process_time() - c, 1e-9) / 1e6)
    return wall, cpu


def speed(engine: Engine, misses: bool) -> dict[str, float]:
    titles = _titles()
    size = sum(len(t.encode("utf-8")) for t in titles)
    scan = engine.scan
    # cold: the first pass of an engine that has not seen these words (the screen remembers
    # words, see Engine.candidate); warm: the best of four more passes. The machine may be
    # shared: wall clock and CPU time are both reported.
    engine.forget_words()
    cold_pass = cold_pass_cpu = 0.0
    best = best_cpu = 0.0
    for i in range(5):
        t = time.perf_counter()
        c = time.process_time()
        for title in titles:
            scan(title, "title")
        wall = size / (time.perf_counter() - t)
        cpu = size / max(time.process_time() - c, 1e-9)
        if i == 0:
            cold_pass, cold_pass_cpu = wall, cpu
        else:
            best, best_cpu = max(best, wall), max(best_cpu, cpu)
    unseen, unseen_cpu = _unseen_titles(engine, titles)
    # incremental: type benign paragraphs key by key (with a few backspaces)
    text = " ".join(titles[:400])
    per_key = per_key_cpu = float("inf")
    for _ in range(3):
        inc = engine.incremental()
        buf = ""
        n_keys = 0
        t = time.perf_counter()
        c = time.process_time()
        for i, ch in enumerate(text):
            buf += ch
            if len(buf) > 512:
                buf = buf[128:]
            inc.update(buf)
            n_keys += 1
            if i % 97 == 0:
                buf = buf[:-1]
                inc.update(buf)
                n_keys += 1
        per_key = min(per_key, (time.perf_counter() - t) / n_keys)
        per_key_cpu = min(per_key_cpu, (time.process_time() - c) / n_keys)
    # load times last: loading engines that are thrown away leaves the heap of this process
    # unlike that of an agent or collector, which loads one engine
    loads = []
    loads_cpu = []
    for _ in range(5):
        t = time.perf_counter()
        c = time.process_time()
        Engine.load()
        loads.append(time.perf_counter() - t)
        loads_cpu.append(time.process_time() - c)
    t = time.perf_counter()
    Engine.load(cache=False)
    cold = time.perf_counter() - t
    mem_load, mem_scanned, words = engine_memory()
    print("\n== Speed (one core, in-process)")
    print(
        f"lexicon load (median of 5)     {statistics.median(loads) * 1000:7.1f} ms wall, "
        f"{statistics.median(loads_cpu) * 1000:.1f} ms CPU   target <= 200 ms "
        f"(compiled-engine cache; cold compile {cold * 1000:.0f} ms)"
    )
    print(
        f"title scan, normalise + match  {best / 1e6:7.1f} MB/s wall, {best_cpu / 1e6:.1f} MB/s CPU "
        f"warm; {cold_pass / 1e6:.1f} MB/s wall, {cold_pass_cpu / 1e6:.1f} MB/s CPU cold "
        f"({len(titles)} titles, {size / 1e6:.1f} MB; word memory {engine.word_memory})   "
        "target >= 10 MB/s"
    )
    print(
        f"titles never seen before       {min(unseen):.1f}-{max(unseen):.1f} MB/s wall, "
        f"{min(unseen_cpu):.1f}-{max(unseen_cpu):.1f} MB/s CPU (shuffled, seeds 1-3: the first "
        "half scanned, the second timed)   target >= 10 MB/s"
    )
    print(
        f"incremental update             {per_key * 1e6:7.1f} µs wall, "
        f"{per_key_cpu * 1e6:.1f} µs CPU per keystroke ({n_keys} keystrokes)   target <= 20 µs"
    )
    print(
        f"engine memory (fresh process)  {mem_load:7.1f} MiB RSS after Engine.load(), "
        f"{mem_scanned:.1f} MiB after the titles ({words} words remembered)   target <= 12 MiB"
    )
    print(f"automaton keys                 {engine.matcher.keys}")
    return {
        "load_ms": statistics.median(loads) * 1000,
        "load_ms_cpu": statistics.median(loads_cpu) * 1000,
        "title_mb_s": best / 1e6,
        "title_mb_s_cpu": best_cpu / 1e6,
        "title_mb_s_cold": cold_pass / 1e6,
        "title_mb_s_cold_cpu": cold_pass_cpu / 1e6,
        "title_mb_s_unseen": min(unseen),
        "title_mb_s_unseen_cpu": min(unseen_cpu),
        "keystroke_us": per_key * 1e6,
        "keystroke_us_cpu": per_key_cpu * 1e6,
        "engine_mib_loaded": mem_load,
        "engine_mib_scanned": mem_scanned,
    }


SECTIONS: dict[str, Callable[[Engine, bool], dict[str, float]]] = {
    "hatecheck": hatecheck,
    "davidson": davidson,
    "benign": benign,
    "toxigen": toxigen,
    "places": places,
    "dictionary": dictionary,
    "functional": functional,
    "speed": speed,
}


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="default: all")
    p.add_argument("--misses", action="store_true", help="print ids of wrong cases (no texts)")
    args = p.parse_args(list(argv) if argv is not None else None)
    engine = Engine.load()
    print(
        f"lantern detection bench: lexicon version {engine.version}, "
        f"{len(engine.entries)} entries, {engine.matcher.keys} automaton keys"
    )
    figures: dict[str, float] = {}
    for name in args.sections or list(SECTIONS):
        figures.update(SECTIONS[name](engine, args.misses))
    print("\n== summary")
    for k, v in figures.items():
        print(f"{k:28} {v:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
