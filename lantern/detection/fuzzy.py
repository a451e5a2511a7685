"""Spelling variants one edit away (deleted, inserted, swapped or changed letter): ``haet``, ``muslms``.

A symmetric-delete index over the lexicon's single words (four letters or more). It only runs on
sentences that already hold an exact lexicon match, only on tokens that are not ordinary words
(``known_words.txt``) and not themselves lexicon words, so ``hat`` never becomes ``hate``.
"""

from __future__ import annotations

from collections.abc import Container

from lantern.detection.lexicon import GAP, NO_INFLECT, Lexicon, inflections
from lantern.detection.normalise import Normaliser, WordSet

MIN_LEN = 4


def _deletes(w: str) -> set[str]:
    return {w[:i] + w[i + 1 :] for i in range(len(w))}


def _edit_rank(tok: str, cand: str) -> int:
    """Prefer the commonest typing slips: a swapped or dropped letter, then an extra letter,
    then a changed one."""
    if len(cand) == len(tok) + 1:
        return 0
    if len(cand) == len(tok):
        diff = [i for i in range(len(tok)) if tok[i] != cand[i]]
        return 0 if len(diff) == 2 and diff[1] == diff[0] + 1 else 2
    return 1


class _DeleteIndex:
    """The symmetric-delete index (string with one letter deleted → words), kept compact: the
    entries are grouped by their first three letters into one string per group, a line
    ``<delete>\t<word> <word>`` per entry (about a third of the memory of a dict of lists)."""

    __slots__ = ("_groups",)

    def __init__(self, index: dict[str, list[str]]) -> None:
        groups: dict[str, list[str]] = {}
        for d in sorted(index):
            groups.setdefault(d[:3], []).append(f"{d}\t{' '.join(index[d])}")
        self._groups = {k: "\n" + "\n".join(v) + "\n" for k, v in groups.items()}

    def get(self, d: str) -> list[str]:
        group = self._groups.get(d[:3])
        if group is None:
            return []
        i = group.find("\n" + d + "\t")
        if i < 0:
            return []
        i += len(d) + 2
        return group[i : group.index("\n", i)].split(" ")


class FuzzyIndex:
    """Maps misspelled tokens to lexicon words."""

    def __init__(self, lex: Lexicon, norm: Normaliser, known: Container[str]) -> None:
        self.known = known
        words: set[str] = set()

        def add(phrase: str, inflect: bool) -> None:
            # (not the memoised norm.phrase: that memo would stay in memory for nothing)
            ws = norm.normalise(phrase.replace(GAP, " ")).split(" ")
            # words of longer phrases ("go back to") only when they are long enough to be
            # distinctive, so "blck" becomes "black", not "back"
            least = 3 if len(ws) == 1 else 5
            for w in ws:
                if len(w) >= least and w.isalpha() and w not in NO_INFLECT:
                    words.update(inflections(w) if inflect else [w])

        for e in lex.entries:
            for p in e.phrases:
                add(p, e.inflect)
        for name, ps in lex.sets.items():
            if lex.set_fuzzy.get(name, True):
                for p in ps:
                    add(p, lex.set_inflect.get(name, True))
        self.words = WordSet(words)
        index: dict[str, list[str]] = {}
        for w in sorted(words):
            for d in _deletes(w):
                index.setdefault(d, []).append(w)
        self.index = _DeleteIndex(index)

    def lookup(self, tok: str) -> str | None:
        """The lexicon word one edit away from ``tok``, if there is one and ``tok`` is not a word."""
        if len(tok) < MIN_LEN - 1 or not tok.isalpha() or tok in self.known or tok in self.words:
            return None
        cands: set[str] = set(self.index.get(tok))  # a letter missing
        if len(tok) < MIN_LEN:
            # a three-letter token is the start or end of many words: only a letter missing
            # inside it counts ("pic" is not "spic", "hom" not "homo")
            cands = {c for c in cands if c[0] == tok[0] and c[-1] == tok[-1]}
        for d in _deletes(tok):
            if d in self.words:  # a letter added
                cands.add(d)
            if len(tok) >= MIN_LEN:
                cands.update(w for w in self.index.get(d) if len(w) == len(tok))  # changed
        # a changed first letter is a different word (``bate`` is not ``hate``)
        cands = {c for c in cands if c[0] == tok[0] or len(c) != len(tok) or c[1:] == tok[1:][::-1]}
        # three-letter words ("kil", "die") only for a swapped or an extra letter
        cands = {c for c in cands if len(c) >= MIN_LEN or _edit_rank(tok, c) <= 1}
        if not cands:
            return None
        return min(cands, key=lambda c: (_edit_rank(tok, c), c))

    def corrections(
        self, tokens: list[str], sentences: set[int], sent_id: list[int]
    ) -> dict[int, str]:
        """Token index → lexicon word, for unknown tokens in the given sentences."""
        out: dict[int, str] = {}
        for t, tok in enumerate(tokens):
            if sent_id[t] in sentences:
                w = self.lookup(tok)
                if w is not None:
                    out[t] = w
        return out
