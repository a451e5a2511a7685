"""Synthetic but realistic trigger workload: 200 rules and an event mix like a college day."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.store.interface import EventRow
from collector.triggers.rules import CATEGORIES, RuleSet, load_rules, parse_rules
from lantern.ids import uuid7_str

DOMAINS = [f"site{i}.example" for i in range(400)]  # what the domain rules list
VISITED = [f"site{i}.example" for i in range(4000)]  # what students visit
APPS = ["chromium", "firefox", "winword", "teams", "code", "excel", "powerpnt", "discord"]
SAFE_TITLES = [
    "Photosynthesis revision - BBC Bitesize",
    "Inbox - Outlook",
    "Year 12 Physics - Teams",
    "Untitled document - Google Docs",
    "Macbeth Act 3 summary - SparkNotes",
    "YouTube",
    "Khan Academy - Quadratics",
    "Timetable.xlsx - Excel",
]
RISKY_TITLES = [
    "knife crime essay sources - Google Search",
    "how to self harm - Google Search",
    "i want to kill myself - Reddit",
    "cyberbullying statistics UK - Google Search",
]


def two_hundred_rules() -> RuleSet:
    """The packaged rules plus generated ones, 200 in all, with the shapes real sets use."""
    base = load_rules()
    rng = random.Random(7)
    extra: list[dict[str, Any]] = []
    i = 0
    while len(base.rules) + len(extra) < 200:
        i += 1
        shape = i % 6
        cat = CATEGORIES[i % len(CATEGORIES)]
        # Real rule sets are mostly targeted (a group, a site, an app, a lexicon entry, a list
        # of domains); a handful are broad. The packaged rules supply the broad ones.
        if shape == 0:
            extra.append(
                {
                    "id": f"gen.group{i}",
                    "match": {"category": [cat], "severity": ">=3", "device_group": [f"G{i % 40}"]},
                    "raise": {"age_band": {"under_16": 1}},
                }
            )
        elif shape == 1:
            extra.append(
                {
                    "id": f"gen.freq{i}",
                    "match": {"category": [cat], "lexicon_rule": [f"{cat}.phrase{i % 50}"]},
                    "frequency": 3,
                    "timeframe": "1h",
                    "suppress_for": "1d",
                    "severity": 3,
                }
            )
        elif shape == 2:
            extra.append(
                {
                    "id": f"gen.dom{i}",
                    "match": {"kind": "window_focus", "domain": rng.sample(DOMAINS, 10)},
                    "category": "gambling",
                    "severity": 3,
                    "frequency": 2,
                    "timeframe": "1h",
                }
            )
        elif shape == 3:
            extra.append(
                {
                    "id": f"gen.app{i}",
                    "match": {
                        "category": [cat],
                        "app": [rng.choice(APPS)],
                        "site": [f"Site{i % 5}"],
                    },
                    "raise": {"out_of_hours": 1},
                }
            )
        elif shape == 4:
            extra.append(
                {
                    "id": f"gen.lex{i}",
                    "match": {
                        "category": [cat],
                        "source": "typed",
                        "lexicon_rule": [f"{cat}.phrase{(i * 7) % 50}"],
                    },
                    "group_by": ["user"],
                }
            )
        else:
            extra.append(
                {
                    "id": f"gen.title{i}",
                    "match": {
                        "kind": "window_focus",
                        "title": rf"\b(how to|where to) (buy|get) {cat}\w*",
                    },
                    "category": cat,
                    "severity": 3,
                }
            )
    generated = parse_rules([("generated.yaml", {"rules": extra})])
    return RuleSet(base.rules + generated.rules, base.calendar)


def events(n: int, devices: int = 1000, risk_share: float = 0.2, seed: int = 1) -> list[EventRow]:
    """n events: mostly window focus changes, some typed risk matches (all categories)."""
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    out = []
    for k in range(n):
        dev = f"dev-{rng.randrange(devices)}"
        at = t0 + timedelta(milliseconds=k)
        if rng.random() < risk_share:
            cat = rng.choice(CATEGORIES)
            out.append(
                EventRow(
                    uuid7_str(),
                    dev,
                    k + 1,
                    "risk_match",
                    at,
                    at,
                    f"s{dev}",
                    rng.choice(APPS),
                    "Essay",
                    {
                        "category": cat,
                        "severity": rng.choice((2, 3, 3, 4, 5)),
                        "rule": f"{cat}.phrase{rng.randrange(50)}",
                        "matched": "x",
                        "snippet": "y",
                        "source": "typed",
                        "process": rng.choice(APPS),
                    },
                )
            )
        else:
            title = (
                rng.choice(RISKY_TITLES)
                if rng.random() < 0.02
                else (f"{rng.choice(SAFE_TITLES)} ({rng.randrange(300)})")
            )
            out.append(
                EventRow(
                    uuid7_str(),
                    dev,
                    k + 1,
                    "window_focus",
                    at,
                    at,
                    f"s{dev}",
                    rng.choice(APPS),
                    title,
                    {
                        "process": rng.choice(APPS),
                        "page_title": title,
                        "url": f"https://www.{rng.choice(VISITED)}/page",
                        "browser": "chromium",
                    },
                )
            )
    return out
