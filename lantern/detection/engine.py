"""The detection engine: lexicon + normaliser + matcher + context, batch and incremental."""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from lantern.detection.cache import cache_key, read_cache, write_cache
from lantern.detection.context import ContextRules
from lantern.detection.fuzzy import FuzzyIndex
from lantern.detection.hit import Hit, bounded_matched, bounded_snippet
from lantern.detection.lexicon import (
    MAX_GAP,
    Entry,
    Lexicon,
    LocalKeyword,
    apply_local,
    load_lexicon,
    vocabulary,
)
from lantern.detection.match import Atom, AtomMatch, Matcher, _token_index, token_starts
from lantern.detection.normalise import Normaliser, WordSet, squeeze

if TYPE_CHECKING:
    from lantern.detection.incremental import IncrementalScanner

_MENTION_RE = re.compile(r"(?<![\w@])@\w")
# three single letters in a row ("k i l l") in Normaliser.screen_raw output: screened in full
_SPACED_RAW_RE = re.compile(r" [a-z] +[a-z] +[a-z](?: |$)")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
# screen words remembered per engine (about 200 bytes each; titles and typing repeat words)
WORD_MEMORY = 24_576
SENTENCE = "."
FUZZY_ANCHORS = frozenset(
    {"hostile", "threat_call", "threat_verb", "negated_positive", "wish", "identity"}
)
QUOTE_TOKEN = '"'


class Engine:
    """Scans text against the risk lexicon. Build with :meth:`load`."""

    def __init__(self, lex: Lexicon) -> None:
        self.lexicon = lex
        self.version: str = lex.version
        self.entries: list[Entry] = lex.entries
        plain = Normaliser(vocabulary(lex))
        glue = frozenset(plain.normalise(g) for g in lex.sets.get("_glue", ()))
        known = _known_words()
        self.normaliser = Normaliser(WordSet(plain.vocab), known, glue)
        self.known: WordSet = known
        self.matcher = Matcher(lex, self.normaliser, glue, known)
        self.context = ContextRules(lex, self.normaliser)
        trig = _trigger_sets(lex, self.matcher)
        self.matcher.build_screen(lambda a: (a.entry >= 0 and a.seg == 0) or a.set_name in trig)
        # built here so that it is in the engine cache: building it later, in the agent,
        # would leave the process several MB larger than the index itself
        self._fuzzy: FuzzyIndex | None = FuzzyIndex(lex, self.normaliser, known)
        self.load_seconds: float = 0.0
        self.word_memory = WORD_MEMORY
        self._seen: dict[str, str] = {}  # screen word -> its screen form (squeezed)
        self._quiet: set[str] = set()  # words that are no part of any screen key
        self._keys: set[str] = set()  # words that fire the screen (one-word key, hidden words)
        self._alarm: set[str] = set()  # words that always take the full screen
        self._split: set[str] = set()  # long words whose screen form is the words they split into

    def __getstate__(self) -> dict[str, object]:
        # the cache file holds the compiled lexicon only, not what this process has seen
        state = dict(self.__dict__)
        state.update(_seen={}, _quiet=set(), _keys=set(), _alarm=set(), _split=set())
        return state

    @property
    def fuzzy(self) -> FuzzyIndex:
        """The spelling index (see :mod:`lantern.detection.fuzzy`)."""
        if self._fuzzy is None:
            self._fuzzy = FuzzyIndex(self.lexicon, self.normaliser, self.known)
        return self._fuzzy

    @classmethod
    def load(
        cls,
        lexicon_dir: Path | None = None,
        *,
        categories: Iterable[str] | None = None,
        languages: Iterable[str] | None = None,
        cache: bool = True,
        local: Iterable[LocalKeyword] = (),
        word_memory: int = WORD_MEMORY,
    ) -> Engine:
        """Load a lexicon directory (default: the packaged lexicon) and compile it.

        The compiled engine is cached per lexicon version (see :mod:`lantern.detection.cache`),
        so after the first run a load is one file read; ``cache=False`` always compiles.
        ``word_memory`` bounds the words the screen remembers (see :meth:`candidate`; about
        200 bytes each, 0 turns it off; the agent uses a smaller memory than the collector).
        """
        t = time.perf_counter()
        local = tuple(local)
        # The college's own keywords are part of the key: an agent with them starts from the
        # cache too (compiling takes about a second and leaves the process tens of MB larger).
        key = cache_key(lexicon_dir, categories, languages, local) if cache else ""
        engine = read_cache(key) if key else None
        if not isinstance(engine, Engine):
            lex = load_lexicon(lexicon_dir, categories=categories, languages=languages)
            if local:
                apply_local(lex, local)
            engine = cls(lex)
            if key:
                write_cache(key, engine)
        engine.word_memory = word_memory
        engine.load_seconds = time.perf_counter() - t
        return engine

    def incremental(self) -> IncrementalScanner:
        """A scanner for one typed-text buffer (one per window)."""
        from lantern.detection.incremental import IncrementalScanner

        return IncrementalScanner(self)

    # -- batch ----------------------------------------------------------------------------------
    def scan(
        self, text: str, source: str = "typed", *, include_cancelled: bool = False
    ) -> list[Hit]:
        """All hits in ``text`` (a title, a buffer, a document), ordered by position.

        Hits cancelled by context (severity 0) are dropped unless ``include_cancelled``.
        """
        if not text or not self.candidate(text):
            return []
        return self.analyse(text, source, include_cancelled=include_cancelled)

    def candidate(self, text: str) -> bool:
        """The fast screen: False when ``text`` cannot hold a hit.

        Screen words are remembered with their screen form (squeezed, or the words a long
        run-together word splits into) and what they can do in the screen (up to
        ``word_memory`` of them; further new words are classified without being kept; 0 turns
        the memory off): a text of quiet words is rejected with one set operation, a text with
        a word that fires the screen accepted with another, and a text of remembered words only
        has its several-word keys checked. The answer is always the same as screening the text
        from scratch (:meth:`Matcher.any_candidate`).
        """
        norm = self.normaliser
        raw = norm.screen_raw(text)
        if raw is None:
            return self.matcher.any_candidate(norm.normalise(text))
        words = raw.split()
        # spaced letters ("k i l l") need single letters: most texts have none
        if not _LETTERS.isdisjoint(words) and _SPACED_RAW_RE.search(" " + raw) is not None:
            return self.matcher.any_candidate(norm.screen_finish(text, raw))
        seen = self._seen
        learnt = squeezed = False
        while not self._quiet.issuperset(words):
            if self._alarm.isdisjoint(words):
                if not self._keys.isdisjoint(words):
                    return True
                forms = list(map(seen.get, words))
                if None not in forms:
                    known_forms: list[str] = forms  # type: ignore[assignment]
                    if not self._split.isdisjoint(words):
                        known_forms = " ".join(known_forms).split(" ")
                    return self.matcher.phrase_hit(known_forms)
                if not learnt and len(seen) + len(self._alarm) < self.word_memory:
                    self._learn(words)
                    learnt = True
                    continue
                verdict = self._screen_new(words)  # memory full: classify, do not keep
                if verdict is not None:
                    return verdict
            # a word squeezed to one letter ("aa") may complete spaced letters: screen the
            # squeezed text (its words are remembered like any others)
            if squeezed:
                return self.matcher.any_candidate(" ".join(words))
            words = norm.screen_finish(text, raw).split()
            squeezed = True
        return False

    def _learn(self, words: list[str]) -> None:
        seen, screen_form = self._seen, self.matcher.screen_form
        for w in set(words).difference(seen, self._alarm):
            sq = squeeze(w)
            # a word squeezed to one letter ("aa") could complete spaced letters
            if len(sq) == 1 and len(w) > 1:
                self._alarm.add(w)
                continue
            role, form = screen_form(sq)
            seen[w] = form
            if form is not sq:
                self._split.add(w)
            if role == 2:
                self._keys.add(w)
            elif role == 0:
                self._quiet.add(w)

    def forget_words(self) -> None:
        """Empty the screen's word memory and the normaliser's memos of words (they refill as
        texts are scanned; for measuring a cold engine)."""
        self._seen.clear()
        self._quiet.clear()
        self._keys.clear()
        self._alarm.clear()
        self._split.clear()
        self.matcher._companion_memo.clear()
        self.normaliser.forget_words()

    def _screen_new(self, words: list[str]) -> bool | None:
        """Screen a text holding words not remembered (the memory is full) without keeping
        them; None when one of them squeezes to one letter (the caller screens the text
        squeezed)."""
        seen = self._seen
        present = set(words)
        unseen = present.difference(seen)
        new: dict[str, tuple[int, str]] = {}
        for w in unseen:
            sq = squeeze(w)
            if len(sq) == 1 and len(w) > 1:  # see _learn
                return None
            new[w] = self.matcher.screen_form(sq)
        roles = [role for role, _form in new.values()]
        if 2 in roles:
            return True  # (no remembered word fires: the caller checked)
        if 1 not in roles and self._quiet.issuperset(present - unseen):
            return False
        forms = [seen[w] if w in seen else new[w][1] for w in words]
        return self.matcher.phrase_hit(" ".join(forms).split(" "))

    def analyse(
        self,
        text: str,
        source: str = "typed",
        *,
        include_cancelled: bool = False,
        boundary_end: bool = True,
    ) -> list[Hit]:
        """Full analysis without the fast screen (``scan`` calls this when the screen fires).

        With ``boundary_end=False`` the last token is treated as still being typed: hits that end
        on it are not reported (the incremental scanner uses this).
        """
        s, off = self.normaliser.normalise_mapped(text)
        if not s:
            return []
        starts = token_starts(s)
        tokens = s.split(" ")
        tok_of = _token_index(starts, len(s))
        matches = self.matcher.find(s, starts, self.known, tok_of)
        if matches and self.matcher.need_double:
            matches = [m for m in matches if _doubling_ok(self.matcher, text, s, off, m)]
        if not matches:
            return []
        sent_id, sent_bounds = _sentences(tokens)
        # misspelt words ("haet", "muslms", "blck") are corrected only in sentences that already
        # hold an exact hostile or identity phrase, then the sentence is matched again
        anchored = {sent_id[m.t0] for m in matches if m.atom.set_name in FUZZY_ANCHORS}
        corr = self.fuzzy.corrections(tokens, anchored, sent_id) if anchored else {}
        if corr:
            s, off = _apply_corrections(tokens, starts, off, corr)
            starts = token_starts(s)
            tokens = s.split(" ")
            tok_of = _token_index(starts, len(s))
            matches = [
                m if not any(t in corr for t in range(m.t0, m.t1)) else _as_fuzzy(m)
                for m in self.matcher.find(s, starts, self.known, tok_of)
            ]
        raw = self._assemble(matches, sent_id)
        if not raw:
            return []
        words = sum(1 for t in tokens if t not in (SENTENCE, QUOTE_TOKEN))
        # a reply to someone ("@name word") is context: the word is aimed at a person
        addressed = words == 1 and _MENTION_RE.search(text) is not None
        cues = self.context.find(s, tok_of)
        quotes = _quote_parity(tokens, _retweet_quotes(text, s, off, starts, tokens))
        last_tok = len(tokens) - 1
        spellings = self.context.spellings
        hits: list[tuple[Hit, int, int]] = []
        for ei, t0, t1, c0, c1, neg_t0, nwords in raw:
            e = self.entries[ei]
            if source not in e.applies_to:
                continue
            if words == 1 and nwords == 1 and not e.standalone and not addressed:
                continue
            if not boundary_end and t1 - 1 == last_tok:
                continue
            start = off[c0]
            end = off[c1 - 1] + 1
            hit_cues = cues
            if spellings and e.lower.intersection(spellings):
                hit_cues = cues + self.context.spelled(text[start:end], t0, t1, cues)
            sev, reasons = self.context.adjust(
                e, e.severity, t0, t1, neg_t0, sent_bounds[sent_id[t0]], hit_cues, quotes[t0]
            )
            if sev == 0 and not include_cancelled:
                continue
            hit = Hit(
                category=e.category,
                severity=sev,
                rule=e.id,
                matched=bounded_matched(text, start, end),
                snippet=bounded_snippet(text, start, end),
                start=start,
                end=end,
                source=source,
                base_severity=e.severity,
                reasons=reasons,
            )
            hits.append((hit, t0, t1))
        return _resolve_overlaps(hits)

    def _assemble(
        self, matches: list[AtomMatch], sent_id: list[int]
    ) -> list[tuple[int, int, int, int, int, int, int]]:
        """Turn atom matches into entry candidates: (entry, t0, t1, c0, c1, neg_t0, words)."""
        out: list[tuple[int, int, int, int, int, int, int]] = []
        gapped: dict[tuple[int, int], list[AtomMatch]] = {}
        gapped_sets: dict[tuple[str, int], list[AtomMatch]] = {}
        by_set: dict[str, list[AtomMatch]] = {}
        for m in matches:
            a = m.atom
            if a.entry >= 0:
                if a.nseg == 1:
                    out.append((a.entry, m.t0, m.t1, m.c0, m.c1, m.t0, a.words))
                else:
                    gapped.setdefault((a.entry, a.phrase), []).append(m)
            elif a.nseg == 1:
                by_set.setdefault(a.set_name, []).append(m)
            else:
                gapped_sets.setdefault((a.set_name, a.phrase), []).append(m)
        for (ei, _pi), ms in gapped.items():
            out.extend(_chain(ei, ms, sent_id))
        for (name, pi), ms in gapped_sets.items():
            for _ei, t0, t1, c0, c1, _neg, _n in _chain(-1, ms, sent_id):
                atom = Atom(-1, name, 0, 1, pi, t1 - t0)
                by_set.setdefault(name, []).append(AtomMatch(atom, t0, t1, c0, c1))
        for name, (parts, gap) in self.lexicon.set_sequences.items():
            if all(p in by_set for p in parts):
                derived = _sequence(name, [by_set[p] for p in parts], gap, sent_id)
                if derived:
                    by_set.setdefault(name, []).extend(derived)
        if by_set:
            for ei, e in enumerate(self.entries):
                if (
                    e.all_of
                    and all(n in by_set for n in e.all_of)
                    and all(n in by_set for n in e.requires)
                ):
                    c = _combine(ei, e, by_set, sent_id)
                    if c is not None:
                        out.append(c)
        return out


def _chain(
    ei: int, ms: list[AtomMatch], sent_id: list[int]
) -> list[tuple[int, int, int, int, int, int, int]]:
    nseg = ms[0].atom.nseg
    segs: list[list[AtomMatch]] = [[] for _ in range(nseg)]
    for m in ms:
        segs[m.atom.seg].append(m)
    out: list[tuple[int, int, int, int, int, int, int]] = []
    for first in segs[0]:
        cur = first
        ok = True
        for k in range(1, nseg):
            nxt = [
                m
                for m in segs[k]
                if cur.t1 <= m.t0 <= cur.t1 + MAX_GAP and sent_id[m.t0] == sent_id[first.t0]
            ]
            if not nxt:
                ok = False
                break
            cur = min(nxt, key=lambda m: m.t0)
        if ok:
            out.append((ei, first.t0, cur.t1, first.c0, cur.c1, first.t0, nseg))
    return out


def _trigger_sets(lex: Lexicon, matcher: Matcher) -> frozenset[str]:
    """For each composite rule, the rarest set it cannot do without (screening on it suffices).

    Sets of everyday words (``screen: false`` in the lexicon: pronouns, modals, negators) are
    never chosen; a derived sequence set counts through its parts.
    """
    size: dict[str, int] = {}
    for a in matcher.atoms:
        if a.set_name:
            size[a.set_name] = size.get(a.set_name, 0) + 1
    out: set[str] = set()
    for e in lex.entries:
        if not e.all_of:
            continue
        needed = [
            n
            for n in (*e.all_of, *e.requires)
            if n not in lex.set_sequences and lex.set_screen.get(n, True)
        ]
        if not needed:
            needed = list(e.all_of)
        out.add(min(needed, key=lambda n: size.get(n, 0) or 1 << 30))
    return frozenset(out)


def _sequence(
    name: str, parts: list[list[AtomMatch]], gap: int, sent_id: list[int]
) -> list[AtomMatch]:
    """Matches of a derived set: one match of each part, in order, at most ``gap`` tokens apart."""
    out: list[AtomMatch] = []
    for first in parts[0]:
        cur = first
        fuzzy = first.fuzzy
        for ms in parts[1:]:
            nxt = [
                m
                for m in ms
                if cur.t1 <= m.t0 <= cur.t1 + gap and sent_id[m.t0] == sent_id[first.t0]
            ]
            if not nxt:
                break
            cur = min(nxt, key=lambda m: (m.t0, -m.t1))
            fuzzy = fuzzy or cur.fuzzy
        else:
            atom = Atom(-1, name, 0, 1, 0, cur.t1 - first.t0)
            out.append(AtomMatch(atom, first.t0, cur.t1, first.c0, cur.c1, fuzzy))
    return out


def _combine(
    ei: int, e: Entry, by_set: dict[str, list[AtomMatch]], sent_id: list[int]
) -> tuple[int, int, int, int, int, int, int] | None:
    """Best co-occurrence of one match from each set in one sentence within the window."""
    best: tuple[int, int, int, int, int, int, int] | None = None
    best_span = 1 << 30
    names = e.all_of
    whole_text = e.scope == "text"
    for anchor in by_set[names[0]]:
        sid = sent_id[anchor.t0]
        parts = [anchor]
        for n in names[1:]:
            cands = [
                m
                for m in by_set[n]
                if (whole_text or sent_id[m.t0] == sid)
                and all(m.t1 <= p.t0 or p.t1 <= m.t0 for p in parts)
            ]
            if not cands:
                parts = []
                break
            parts.append(min(cands, key=lambda m: abs(m.t0 - anchor.t0)))
        if not parts:
            continue
        t0 = min(p.t0 for p in parts)
        t1 = max(p.t1 for p in parts)
        if t1 - t0 > e.window:
            continue
        nfuzzy = sum(p.fuzzy for p in parts)
        if nfuzzy > 1 or (nfuzzy and len(parts) == 1):
            continue
        if t1 - t0 < best_span:
            best_span = t1 - t0
            c0 = min(p.c0 for p in parts)
            c1 = max(p.c1 for p in parts)
            neg = parts[e.negation_part].t0
            best = (ei, t0, t1, c0, c1, neg, len(parts))
    return best


def _as_fuzzy(m: AtomMatch) -> AtomMatch:
    return AtomMatch(m.atom, m.t0, m.t1, m.c0, m.c1, fuzzy=True)


def _apply_corrections(
    tokens: list[str], starts: list[int], off: list[int], corr: dict[int, str]
) -> tuple[str, list[int]]:
    """Replace corrected tokens; characters of a replaced token map onto the original token."""
    out: list[str] = []
    new_off: list[int] = []
    for t, tok in enumerate(tokens):
        if t:
            out.append(" ")
            new_off.append(off[starts[t] - 1])
        src = off[starts[t] : starts[t] + len(tok)]
        word = corr.get(t, tok)
        out.append(word)
        if len(word) == len(tok):
            new_off.extend(src)
        else:
            k = len(word)
            new_off.extend(src[(i * len(tok)) // k] for i in range(k - 1))
            new_off.append(src[-1])
    return "".join(out), new_off


def _doubling_ok(matcher: Matcher, text: str, s: str, off: list[int], m: AtomMatch) -> bool:
    """A lexicon word with a double letter whose squeezed form is an ordinary word ("coon" →
    "con") only matches text that has a double letter there too."""
    if s[m.c0 : m.c1] not in matcher.need_double:
        return True
    orig = text[off[m.c0] : off[m.c1 - 1] + 1].lower()
    return any(a == b and a.isalpha() for a, b in itertools.pairwise(orig))


def _sentences(tokens: list[str]) -> tuple[list[int], list[tuple[int, int]]]:
    sent_id: list[int] = []
    bounds: list[tuple[int, int]] = []
    sid = 0
    start = 0
    for i, t in enumerate(tokens):
        sent_id.append(sid)
        if t == SENTENCE:
            bounds.append((start, i + 1))
            sid += 1
            start = i + 1
    bounds.append((start, len(tokens)))
    return sent_id, bounds


def _retweet_quotes(
    text: str, s: str, off: list[int], starts: list[int], tokens: list[str]
) -> set[int]:
    """Quote tokens that open a forwarded message (``"@name: ...``): sharing, not quoting."""
    out: set[int] = set()
    for i, t in enumerate(tokens):
        if t == QUOTE_TOKEN:
            o = off[starts[i]]
            if text[o + 1 : o + 6].lstrip(" \"'“”").startswith("@"):
                out.add(i)
    return out


def _quote_parity(tokens: list[str], ignore: set[int] | None = None) -> list[bool]:
    """For each token: is it inside quotation marks (an odd number of quote tokens before it)?"""
    inside = False
    out: list[bool] = []
    marks = [i for i, t in enumerate(tokens) if t == QUOTE_TOKEN and not (ignore and i in ignore)]
    if ignore and len(marks) % 2 == 1 and marks and marks[-1] > max(ignore):
        marks.pop()  # the closing mark of a forwarded message
    mark_set = set(marks)
    for i, _t in enumerate(tokens):
        if i in mark_set:
            inside = not inside
        out.append(inside and len(marks) >= 2)
    return out


def _resolve_overlaps(hits: list[tuple[Hit, int, int]]) -> list[Hit]:
    """Merge overlapping hits of one rule; drop a hit inside the span of a stronger one."""
    hits = sorted(hits, key=lambda h: (h[0].rule, h[1]))
    merged: list[tuple[Hit, int, int]] = []
    for h, t0, t1 in hits:
        if merged and merged[-1][0].rule == h.rule and t0 < merged[-1][2]:
            p, p0, p1 = merged[-1]
            best = h if h.severity > p.severity else p
            merged[-1] = (best, min(p0, t0), max(p1, t1))
            continue
        merged.append((h, t0, t1))
    order = sorted(merged, key=lambda h: (-h[0].base_severity, -(h[2] - h[1]), h[1]))
    kept: list[tuple[Hit, int, int]] = []
    for h, t0, t1 in order:
        if any(
            k0 <= t0 and t1 <= k1 and (k1 - k0 > t1 - t0 or k.category == h.category)
            for k, k0, k1 in kept
        ):
            continue
        kept.append((h, t0, t1))
    kept.sort(key=lambda h: (h[0].start, h[0].rule))
    return [h for h, _, _ in kept]


@functools.lru_cache(maxsize=1)
def _known_words() -> WordSet:
    """Ordinary words that contain lexicon atoms or sit one edit away from them (never split or
    fuzzy-matched): derived from a dictionary by ``bench/detection/build_known.py``."""
    f = resources.files("lantern.detection.lexicon").joinpath("known_words.txt")
    try:
        text = f.read_text(encoding="utf-8")
    except FileNotFoundError:
        return WordSet(())
    return WordSet(w for w in text.split() if not w.startswith("#"))
