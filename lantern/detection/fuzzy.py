"""Spelling variants one edit away (deleted, inserted, swapped or changed letter): ``haet``, ``muslms``.

A symmetric-delete index over the lexicon's single words (four letters or more). It only runs on
sentences that already hold an exact lexicon match, only on tokens that are not ordinary words
(``known_words.txt``) and not themselves lexicon words, so ``hat`` never becomes ``hate``.
"""

from __future__ import annotations

from lantern.detection.lexicon import NO_INFLECT, Lexicon, inflections
from lantern.detection.match import Atom, AtomMatch, Matcher
from lantern.detection.normalise import Normaliser

MIN_LEN = 4


def _deletes(w: str) -> set[str]:
    return {w[:i] + w[i + 1 :] for i in range(len(w))}


class FuzzyIndex:
    """Maps misspelled tokens to lexicon words."""

    def __init__(self, lex: Lexicon, norm: Normaliser, known: frozenset[str]) -> None:
        self.known = known
        words: set[str] = set()
        for e in lex.entries:
            for p in e.phrases:
                n = norm.normalise(p)
                if " " not in n:
                    words.update(inflections(n) if e.inflect else [n])
        for name, ps in lex.sets.items():
            if not lex.set_fuzzy.get(name, True):
                continue
            for p in ps:
                n = norm.normalise(p)
                if " " not in n:
                    words.update(inflections(n) if lex.set_inflect.get(name, True) else [n])
        self.words = frozenset(
            w for w in words if len(w) >= MIN_LEN and w.isalpha() and w not in NO_INFLECT
        )
        index: dict[str, list[str]] = {}
        for w in sorted(self.words):
            for d in _deletes(w):
                index.setdefault(d, []).append(w)
        self.index = index
        self.matcher: Matcher | None = None

    def bind(self, matcher: Matcher) -> None:
        """Attach the matcher whose automaton holds the atoms for each word."""
        self.matcher = matcher

    def lookup(self, tok: str) -> str | None:
        """The lexicon word one edit away from ``tok``, if exactly one is closest."""
        if len(tok) < MIN_LEN or not tok.isalpha() or tok in self.known or tok in self.words:
            return None
        cands: set[str] = set(self.index.get(tok, ()))  # a letter missing
        for d in _deletes(tok):
            if d in self.words:  # a letter added
                cands.add(d)
            cands.update(self.index.get(d, ()))  # changed or swapped letter
        # a changed letter must not be the first one (``bate`` ≠ ``hate``)
        cands = {c for c in cands if c[0] == tok[0] or len(c) != len(tok)}
        if not cands:
            return None
        return min(cands, key=lambda c: (abs(len(c) - len(tok)), c))

    def find(
        self,
        tokens: list[str],
        starts: list[int],
        matches: list[AtomMatch],
        sent_id: list[int],
    ) -> list[AtomMatch]:
        """Extra (fuzzy) atom matches in sentences that already hold an exact match."""
        if self.matcher is None or not matches:
            return []
        sentences = {sent_id[m.t0] for m in matches}
        covered: set[int] = set()
        for m in matches:
            covered.update(range(m.t0, m.t1))
        out: list[AtomMatch] = []
        automaton = self.matcher.automaton
        atoms: list[Atom] = self.matcher.atoms
        for t, tok in enumerate(tokens):
            if t in covered or sent_id[t] not in sentences:
                continue
            w = self.lookup(tok)
            if w is None:
                continue
            found = automaton.get(w, None)
            if found is None:
                continue
            ids = found[1]
            c0 = starts[t]
            for i in ids:
                if atoms[i].words == 1 and atoms[i].nseg == 1:
                    out.append(AtomMatch(atoms[i], t, t + 1, c0, c0 + len(tok), fuzzy=True))
        return out
