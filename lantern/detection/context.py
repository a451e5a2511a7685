"""Context that lowers, cancels or raises the severity of a hit.

Cues are phrases from ``lexicon/context.yaml``. Each cue has a scope:

* ``before``   – ends at most ``distance`` tokens before the hit, in the same sentence (negation,
  intent: "I don't want to …", "I'm going to …");
* ``sentence`` – anywhere in the hit's sentence, outside the hit (first person, time, method);
* ``text``     – anywhere in the text, outside the hit (coursework, news, games, support sites);
* ``overlap``  – overlaps the hit (idioms: "this homework is killing me", "dying to see");
* ``spelling`` – the hit's own text, exactly as written, is one of the phrases (case and
  double letters kept: "Dyke", "Nigg" are UK places; "dyke" is not lowered);
* ``quote``    – built in: the hit sits inside quotation marks (quoting, counter-speech).

Which cues apply is chosen per entry (``lower`` / ``raise`` lists). Lowering cues add their
(negative) effect, raising cues add at most +1 in total and only when nothing lowered the hit;
``cancel`` sets severity to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick

from lantern.detection.lexicon import CANCEL, Cue, Entry, Lexicon, phrase_variants
from lantern.detection.normalise import Normaliser

QUOTE = "quote"
SPELLING = "spelling"
QUOTE_EFFECT = -2
MAX_RAISE = 1


@dataclass(frozen=True, slots=True)
class CueSpan:
    """A cue found in the text, as a token span [t0, t1)."""

    name: str
    t0: int
    t1: int


class ContextRules:
    """Finds cues in normalised token lists and adjusts hit severity."""

    def __init__(self, lex: Lexicon, norm: Normaliser) -> None:
        self.cues: dict[str, Cue] = dict(lex.cues)
        self.automaton = ahocorasick.Automaton()
        keys: dict[str, set[str]] = {}
        # exact spellings of a hit's text (not normalised: the capital and the double letter
        # are what tells the place from the slur)
        self.spellings: dict[str, frozenset[str]] = {}
        for cue in self.cues.values():
            if cue.scope == SPELLING:
                self.spellings[cue.name] = frozenset(cue.phrases)
                continue
            for p in cue.phrases:
                n = norm.phrase(p)
                if not n:
                    continue
                for v in phrase_variants(n, cue.inflect):
                    keys.setdefault(v, set()).add(cue.name)
        for k, names in keys.items():
            self.automaton.add_word(" " + k + " ", (len(k) + 2, tuple(sorted(names))))
        if keys:
            self.automaton.make_automaton()
        self._empty = not keys

    def find(self, s: str, tok_of: list[int]) -> list[CueSpan]:
        """Cue spans in normalised string ``s`` (``tok_of`` maps char offset → token index)."""
        if self._empty:
            return []
        padded = " " + s + " "
        out: list[CueSpan] = []
        for end, (klen, names) in self.automaton.iter(padded):
            # padded[start] is the space before the cue; its first char is s[start]
            start = end - klen + 1
            c0 = start
            c1 = end - 2  # last char of the cue in s
            t0 = tok_of[c0]
            t1 = tok_of[c1] + 1
            out.extend(CueSpan(n, t0, t1) for n in names)
        if len(out) > 1:
            # a cue inside a longer cue of another kind is not a cue ("no" in "no doubt")
            out = [
                c
                for c in out
                if not any(
                    d.name != c.name and d.t0 <= c.t0 and c.t1 <= d.t1 and d.t1 - d.t0 > c.t1 - c.t0
                    for d in out
                )
            ]
        return out

    def spelled(self, written: str, t0: int, t1: int, cues: list[CueSpan]) -> list[CueSpan]:
        """Spelling cues of a hit whose text, as written, is ``written`` (token span [t0, t1)),
        unless one of the cue's ``unless_before`` cues ends right before it ("you Dyke")."""
        out: list[CueSpan] = []
        for name, spellings in self.spellings.items():
            if written in spellings:
                stop = self.cues[name].unless_before
                if not any(c.t1 == t0 and c.name in stop for c in cues):
                    out.append(CueSpan(name, t0, t1))
        return out

    def adjust(
        self,
        entry: Entry,
        base: int,
        t0: int,
        t1: int,
        neg_t0: int,
        sent: tuple[int, int],
        cues: list[CueSpan],
        quoted: bool,
    ) -> tuple[int, tuple[str, ...]]:
        """Severity after context and the names of the cues that changed it."""
        lowered = 0
        raised = 0
        reasons: list[str] = []
        raisers: list[str] = []
        cancel = False
        applying: dict[str, int] = {}
        for c in cues:
            if self._applies(c, t0, t1, neg_t0, sent):
                applying[c.name] = applying.get(c.name, 0) + 1
        for name in sorted(applying):
            cue = self.cues[name]
            if applying[name] < cue.min_count:
                continue
            if cue.effect < 0 and name in entry.lower:
                if cue.effect == CANCEL:
                    cancel = True
                else:
                    lowered += cue.effect
                reasons.append(name)
            elif cue.effect > 0 and name in entry.raise_:
                raised += cue.effect
                raisers.append(name)
        if quoted and QUOTE in entry.lower:
            lowered += QUOTE_EFFECT
            reasons.append(QUOTE)
        if cancel:
            return 0, tuple(reasons)
        if not lowered:
            reasons.extend(raisers)
        # a lowered hit is not raised again ("I don't want to kill myself")
        sev = base + lowered if lowered else base + min(raised, MAX_RAISE)
        return max(1, min(5, sev)), tuple(reasons)

    def _applies(self, c: CueSpan, t0: int, t1: int, neg_t0: int, sent: tuple[int, int]) -> bool:
        cue = self.cues[c.name]
        overlaps = c.t0 < t1 and t0 < c.t1
        if cue.scope == "overlap":
            return overlaps
        if cue.scope == SPELLING:  # found by spelled() for this very hit
            return c.t0 == t0 and c.t1 == t1
        if cue.scope == "sentence_any":  # anywhere in the sentence, overlapping the hit or not
            return sent[0] <= c.t0 and c.t1 <= sent[1]
        if cue.scope == "before":
            # may sit inside a composite hit ("X are not stupid"), never inside the negated part
            return sent[0] <= c.t0 and c.t1 <= neg_t0 and neg_t0 - c.t1 <= cue.distance
        if overlaps:
            return False
        if cue.scope == "text":
            return True
        in_sentence = sent[0] <= c.t0 and c.t1 <= sent[1]
        if cue.scope == "sentence":
            return in_sentence
        if cue.scope == "before":
            return in_sentence and c.t1 <= neg_t0 and neg_t0 - c.t1 <= cue.distance
        return False
