"""The risk lexicon: reviewed YAML data, one file per category, loaded into plain records.

File layout (``lantern/detection/lexicon/<category>.yaml``)::

    category: suicide
    defaults:                       # any entry field; entries override
      severity: 4
      applies_to: [typed, title]
      language: en
      lower: [negation, coursework, news, quote, counter, idiom, support]
      raise: [first_person, intent, plan, time]
      added_by: lantern-detection
      review_date: 2027-06-30
    sets:                           # named phrase sets that composite entries combine
      hostile: [hate, despise]
    entries:
      - id: suicide.kms             # stable rule id, <category>.<name>
        phrases: [kill myself, kms] # phrase and variants; "~" allows a gap of up to 3 words
        severity: 4
        reason: why this is here    # provenance: added_by, reason, review_date
      - id: discrimination.hate_identity
        all_of: [identity, hostile] # composite: one phrase of each set in one sentence
        window: 12                  # ... within this many tokens

``context.yaml`` holds the context cues (negation, coursework, first person …) and ``sites.yaml``-style
entries may list ``sites:`` (domains or site names, matched in titles). Phrases are normalised with
the same :class:`~lantern.detection.normalise.Normaliser` as text, and inflected (kill → kills,
killed, killing, killer) unless ``inflect: false``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lantern.detection.normalise import Normaliser, squeeze

# The UK Safer Internet Centre's monitoring categories (DESIGN.md), plus low-priority `offensive`
# (the collector's rules check against these too).
CATEGORIES = (
    "illegal",
    "bullying",
    "cse",
    "discrimination",
    "drugs",
    "extremism",
    "gambling",
    "pornography",
    "self_harm",
    "suicide",
    "violence",
    "offensive",
)
SOURCES = ("typed", "title")
CONTEXT_FILE = "context.yaml"
GAP = "~"
MAX_GAP = 3

# words never inflected (pronouns, determiners, prepositions, auxiliaries)
_NO_INFLECT_WORDS = """i me my myself mine you your yourself yourselves u ur he him his himself she her herself it
    its itself we us our ourselves they them their themselves this that these those the a an and or
    but if of to in on at by for from with without into onto over under up down out off about all
    any some no not never dont cant wont is are was were be been being am do does did have has had
    will would shall should can could may might must so too very just how what when where why who
    which whom im ive id ill youre theyre were isnt arent wasnt werent gonna wanna gotta"""
NO_INFLECT = frozenset(_NO_INFLECT_WORDS.split())
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader where only ``true``/``false`` are booleans: ``no``, ``on``, ``off`` and ``y``
    are words in a lexicon (YAML 1.1 would read the negation cue ``no`` as False)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in _Base.yaml_implicit_resolvers.items()
}
for _ch in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list(_ch)
    )


class LexiconError(ValueError):
    """A lexicon file is malformed."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One reviewed lexicon entry (a rule)."""

    id: str
    category: str
    severity: int
    applies_to: frozenset[str]
    language: str
    phrases: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    window: int = 12
    lower: frozenset[str] = frozenset()
    raise_: frozenset[str] = frozenset()
    inflect: bool = True
    added_by: str = ""
    reason: str = ""
    review_date: str = ""
    # composite entries: the part whose preceding words are checked for negation (default: last)
    negation_part: int = -1
    # a one-word phrase alone in a text (a lookup, a one-word title) has no context to judge it:
    # it only hits when the entry is marked standalone (unambiguous slang such as "kms")
    standalone: bool = False
    # composite entries: sets that must also occur somewhere in the text (not only this sentence),
    # e.g. a group named earlier and referred to as "they" ("X are everywhere. They are vermin.")
    requires: tuple[str, ...] = ()
    # composite entries: "sentence" (parts in one sentence) or "text" (anywhere within window)
    scope: str = "sentence"


@dataclass(frozen=True, slots=True)
class Cue:
    """A context cue: phrases whose presence near a hit lowers, cancels or raises its severity."""

    name: str
    phrases: tuple[str, ...]
    scope: str  # "before" (within `distance` tokens before the hit), "sentence", "text", "overlap"
    effect: int  # negative lowers, positive raises; CANCEL cancels
    distance: int = 4
    inflect: bool = False
    min_count: int = 1  # distinct cue phrases needed (language guesses need several words)
    unless_before: tuple[str, ...] = ()  # cues that stop it when right before the hit


CANCEL = -99


@dataclass(slots=True)
class Lexicon:
    """All entries, phrase sets and cues, plus a version string (hash of the source files)."""

    entries: list[Entry] = field(default_factory=list)
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    set_inflect: dict[str, bool] = field(default_factory=dict)
    set_fuzzy: dict[str, bool] = field(default_factory=dict)
    # derived sets: a set also matches when its component sets occur in order, at most `gap`
    # tokens apart ("not" … "human")
    set_sequences: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    # sets of everyday words that must not be used to screen texts for a rule
    set_screen: dict[str, bool] = field(default_factory=dict)
    cues: dict[str, Cue] = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True, slots=True)
class LocalKeyword:
    """A college's own change to the lexicon, made in the console's policy editor with a reason
    (the DfE expects schools to adjust their lists). `add` makes a new rule `<category>.local_<id>`;
    `remove` drops the packaged rule that has the phrase (or the rule with that id)."""

    id: int
    action: str  # add | remove
    phrase: str
    category: str
    severity: int


def apply_local(lex: Lexicon, local: Iterable[LocalKeyword]) -> None:
    """Apply the college's keyword changes to a loaded lexicon (in place; changes its version)."""
    digest = hashlib.sha256(lex.version.encode())
    for k in local:
        digest.update(f"{k.id}|{k.action}|{k.phrase}|{k.category}|{k.severity}".encode())
        phrase = k.phrase.strip().lower()
        if k.action == "remove":
            # The whole rule goes: its variants exist to catch the same phrase written otherwise.
            lex.entries[:] = [
                e
                for e in lex.entries
                if e.id != phrase and phrase not in (p.lower() for p in e.phrases)
            ]
            continue
        if k.category not in CATEGORIES:
            raise LexiconError(f"local keyword {k.id}: unknown category {k.category!r}")
        _load_category(
            {
                "category": k.category,
                "entries": [
                    {
                        "id": f"{k.category}.local_{k.id}",
                        "phrases": [phrase],
                        "severity": k.severity,
                        "added_by": "college policy editor",
                        "reason": "added by the college with a recorded reason",
                        "review_date": "annual review",
                    }
                ],
            },
            lex,
            "policy editor",
            None,
            None,
        )
    lex.version = digest.hexdigest()[:16]


def default_dir() -> Path:
    """The lexicon shipped in the package."""
    return Path(str(resources.files("lantern.detection.lexicon")))


def load_lexicon(
    lexicon_dir: Path | None = None,
    *,
    categories: Iterable[str] | None = None,
    languages: Iterable[str] | None = None,
) -> Lexicon:
    """Read every ``*.yaml`` file in ``lexicon_dir``; optionally keep only some categories/languages."""
    d = Path(lexicon_dir) if lexicon_dir is not None else default_dir()
    cats = frozenset(categories) if categories is not None else None
    langs = frozenset(languages) if languages is not None else None
    lex = Lexicon()
    digest = hashlib.sha256()
    files = sorted(d.glob("*.yaml"))
    if not files:
        raise LexiconError(f"no lexicon files in {d}")
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        doc = yaml.load(raw, Loader=_Loader) or {}
        if not isinstance(doc, dict):
            raise LexiconError(f"{path.name}: not a mapping")
        if path.name == CONTEXT_FILE:
            _load_cues(doc, lex, path.name)
            continue
        _load_category(doc, lex, path.name, cats, langs)
    lex.version = digest.hexdigest()[:16]
    for e in lex.entries:
        for s in (*e.all_of, *e.requires):
            if s not in lex.sets:
                raise LexiconError(f"{e.id}: unknown set {s!r}")
    for name, (parts, _gap) in lex.set_sequences.items():
        for s in parts:
            if s not in lex.sets or s in lex.set_sequences:
                raise LexiconError(f"set {name}: sequence part {s!r} must be a plain set")
    return lex


def _load_cues(doc: dict[str, Any], lex: Lexicon, name: str) -> None:
    for cname, spec in (doc.get("cues") or {}).items():
        effect = spec.get("effect", -2)
        lex.cues[cname] = Cue(
            name=cname,
            phrases=tuple(str(p) for p in spec.get("phrases", ())),
            scope=str(spec.get("scope", "sentence")),
            effect=CANCEL if effect == "cancel" else int(effect),
            distance=int(spec.get("distance", 4)),
            inflect=bool(spec.get("inflect", False)),
            min_count=int(spec.get("min_count", 1)),
            unless_before=tuple(str(c) for c in spec.get("unless_before") or ()),
        )
    for sname, spec in (doc.get("sets") or {}).items():
        _add_set(lex, sname, spec, name)


def _add_set(lex: Lexicon, sname: str, spec: Any, fname: str) -> None:
    fuzzy = True
    if isinstance(spec, dict):
        phrases = list(spec.get("phrases") or [])
        inflect = bool(spec.get("inflect", True))
        fuzzy = bool(spec.get("fuzzy", True))
        lex.set_screen[sname] = bool(spec.get("screen", True))
        if spec.get("sequence"):
            lex.set_sequences[sname] = (tuple(spec["sequence"]), int(spec.get("gap", 3)))
        # "product": every combination of one phrase from each list ("not" x "welcome")
        lists = spec.get("product") or []
        if lists:
            for combo in itertools.product(*lists):
                phrases.append(" ".join(str(c) for c in combo))
    else:
        phrases, inflect = spec or [], True
    if sname in lex.sets:
        raise LexiconError(f"{fname}: set {sname!r} defined twice")
    lex.sets[sname] = tuple(str(p) for p in phrases)
    lex.set_inflect[sname] = inflect
    lex.set_fuzzy[sname] = fuzzy and not sname.startswith("_")


def _load_category(
    doc: dict[str, Any],
    lex: Lexicon,
    fname: str,
    cats: frozenset[str] | None,
    langs: frozenset[str] | None,
) -> None:
    category = doc.get("category")
    if category not in CATEGORIES:
        raise LexiconError(f"{fname}: unknown category {category!r}")
    defaults = doc.get("defaults") or {}
    for sname, spec in (doc.get("sets") or {}).items():
        _add_set(lex, sname, spec, fname)
    if cats is not None and category not in cats:
        return
    seen = {e.id for e in lex.entries}
    for item in doc.get("entries") or []:
        spec = {**defaults, **item}
        eid = spec.get("id")
        if not eid or not str(eid).startswith(category + "."):
            raise LexiconError(f"{fname}: entry id {eid!r} must start with {category}.")
        if eid in seen:
            raise LexiconError(f"{fname}: duplicate id {eid}")
        seen.add(eid)
        language = str(spec.get("language", "en"))
        if langs is not None and language not in langs:
            continue
        phrases = [str(p) for p in spec.get("phrases") or []]
        for site in spec.get("sites") or []:
            phrases.append(site_phrase(str(site)))
        all_of = tuple(spec.get("all_of") or ())
        if not phrases and not all_of:
            raise LexiconError(f"{fname}: {eid} has neither phrases nor all_of")
        severity = int(spec.get("severity", 0))
        if not 1 <= severity <= 5:
            raise LexiconError(f"{fname}: {eid} severity {severity} not in 1..5")
        applies = frozenset(spec.get("applies_to") or SOURCES)
        if not applies <= set(SOURCES):
            raise LexiconError(f"{fname}: {eid} applies_to {sorted(applies)}")
        for key in ("added_by", "reason", "review_date"):
            if not spec.get(key):
                raise LexiconError(f"{fname}: {eid} lacks provenance field {key}")
        lex.entries.append(
            Entry(
                id=str(eid),
                category=str(category),
                severity=severity,
                applies_to=applies,
                language=language,
                phrases=tuple(phrases),
                all_of=all_of,
                window=int(spec.get("window", 12)),
                lower=frozenset(spec.get("lower") or ()),
                raise_=frozenset(spec.get("raise") or ()),
                inflect=bool(spec.get("inflect", True)),
                added_by=str(spec["added_by"]),
                reason=str(spec["reason"]),
                review_date=str(spec["review_date"]),
                negation_part=int(spec.get("negation_part", -1)),
                standalone=bool(spec.get("standalone", False)),
                requires=tuple(spec.get("requires") or ()),
                scope=str(spec.get("scope", "sentence")),
            )
        )


def site_phrase(site: str) -> str:
    """``www.bet365.com`` → ``bet365``; a site name (``Talk to Frank``) is kept as a phrase."""
    s = site.strip().lower()
    if " " in s or "." not in s:
        return s
    host = s.split("/", 1)[0]
    labels = [x for x in host.split(".") if x and x != "www"]
    # drop the public suffix (com, co.uk, org.uk, net …): keep the registrable label
    while len(labels) > 1 and (len(labels[-1]) <= 3 or labels[-1] in {"info", "online"}):
        labels.pop()
    return " ".join(labels)


@functools.lru_cache(maxsize=65536)
def inflections(word: str) -> list[str]:
    """Regular inflections of a (normalised, squeezed) word; the word itself first."""
    if len(word) < 3 or word in NO_INFLECT or not any(c in "aeiouy" for c in word):
        return [word]
    if not word.isascii() or not word.isalpha():
        return [word]
    if word.endswith("e"):
        forms = [
            word,
            word + "s",
            word + "d",
            word[:-1] + "ing",
            word[:-1] + "in",
            word + "r",
            word + "rs",
            word + "st",
        ]
    elif word.endswith("s"):
        forms = [word, word + "es"]
    elif word.endswith("y") and word[-2] not in "aeiou":
        forms = [
            word,
            word + "s",
            word[:-1] + "ies",
            word[:-1] + "ied",
            word + "ing",
            word[:-1] + "ier",
            word[:-1] + "iest",
        ]
    else:
        forms = [
            word,
            word + "s",
            word + "ed",
            word + "ing",
            word + "in",
            word + "er",
            word + "ers",
            word + "est",
        ]
        if word.endswith(("ch", "sh", "x", "z", "o")):
            forms.append(word + "es")
    out: list[str] = []
    for f in forms:
        f = squeeze(f)
        if f not in out:
            out.append(f)
    return out


def phrase_variants(phrase_norm: str, inflect: bool, cap: int = 48) -> list[str]:
    """Inflected variants of a normalised phrase (first and last content word), base first."""
    words = phrase_norm.split(" ")
    if not inflect:
        return [phrase_norm]
    content = [i for i, w in enumerate(words) if w not in NO_INFLECT and len(w) >= 3]
    pick = sorted({content[0], content[-1]}) if content else []
    options = [inflections(words[i]) if i in pick else [words[i]] for i in range(len(words))]
    out: list[str] = []
    for combo in itertools.islice(itertools.product(*options), cap):
        out.append(" ".join(combo))
    return out


def iter_phrases(lex: Lexicon) -> Iterator[str]:
    """Every raw phrase in the lexicon (entries, sets, cues)."""
    for e in lex.entries:
        yield from e.phrases
    for ps in lex.sets.values():
        yield from ps
    for c in lex.cues.values():
        yield from c.phrases


def vocabulary(lex: Lexicon) -> frozenset[str]:
    """Words of the lexicon (normalised without a vocabulary) used to resolve leet and masks."""
    plain = Normaliser()
    words: set[str] = set()
    for p in set(iter_phrases(lex)):
        words.update(plain.normalise(p.replace(GAP, " ")).split(" "))
    out: set[str] = set()
    for w in words:
        if w.isalpha():
            out.update(inflections(w))
    return frozenset(out)
