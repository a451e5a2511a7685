"""Multi-pattern matching over normalised text: an Aho-Corasick automaton, word boundaries.

Every lexicon phrase (and its inflections) is an *atom*. A phrase with gaps (``want to ~ die``) is
split into segments that must follow one another with at most ``MAX_GAP`` tokens between them.
Phrases of several words are also stored without spaces (``killmyself``) so missing spaces match.
The automaton holds the one-word keys; keys of several words only count as runs of whole tokens,
so they are looked up as words (by their least common word, the anchor), which keeps the compiled
engine small.

A raw automaton hit only counts when it starts and ends on token boundaries (no Scunthorpe,
Penistone or Essex problem). A hit inside a longer token counts only when the whole token can be
split into lexicon atoms and a few glue words (``ihate``, ``muslimsare``) and the token is not a
known word (``therapist`` is not ``the rapist``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Container
from dataclasses import dataclass

import ahocorasick

from lantern.detection.lexicon import GAP, NO_INFLECT, Lexicon, phrase_variants
from lantern.detection.normalise import Normaliser, WordSet, squeeze

_BOUNDARY = ' ."'


_LONG_RE = re.compile(r"[a-z]{8,}")
# automaton values: key length in the low bits, atom-group index above
_LEN_BITS = 8
_LEN_MASK = (1 << _LEN_BITS) - 1
_SCREEN_BIT = 1 << _LEN_BITS  # a one-word key that is also a screen key
_GID_SHIFT = _LEN_BITS + 1
_SCREEN_MARK = "*"  # phrase-table value prefix of a screen key


@dataclass(frozen=True, slots=True)
class Atom:
    """What one phrase stands for: a segment of an entry's phrase, or a member of a named set."""

    entry: int  # index into Lexicon.entries, or -1 for a set member
    set_name: str  # set name for set members, "" for entry phrases
    seg: int  # segment number within a gapped phrase
    nseg: int  # number of segments of that phrase
    phrase: int  # phrase number within the entry (segments of one phrase share it)
    words: int  # words in the stored (spaced) phrase


@dataclass(frozen=True, slots=True)
class AtomMatch:
    """An atom found in a normalised string: token span [t0, t1) and char span [c0, c1)."""

    atom: Atom
    t0: int
    t1: int
    c0: int
    c1: int
    fuzzy: bool = False


class Matcher:
    """Compiled automaton for a lexicon."""

    def __init__(
        self,
        lex: Lexicon,
        norm: Normaliser,
        glue: frozenset[str] = frozenset(),
        known: Container[str] = frozenset(),
    ) -> None:
        self.atoms: list[Atom] = []
        self.normaliser = norm
        self.glue = glue
        self.known = known
        self._doubled: set[str] = set()
        self._single: set[str] = set()
        self._base: set[str] = set()
        keys: dict[str, set[int]] = {}
        # (entry, phrase) -> atom ids of its segments, used to assemble gapped phrases
        for ei, e in enumerate(lex.entries):
            for pi, phrase in enumerate(e.phrases):
                segs = [s.strip() for s in phrase.split(GAP)]
                for si, seg in enumerate(segs):
                    n = norm.phrase(seg)
                    if not n:
                        continue
                    atom = Atom(ei, "", si, len(segs), pi, n.count(" ") + 1)
                    self._add(keys, atom, n, e.inflect, seg.lower())
        for name, phrases in lex.sets.items():
            if name.startswith("_"):  # helper sets (glue words) are not atoms
                continue
            inflect = lex.set_inflect.get(name, True)
            for pi, phrase in enumerate(phrases):
                segs = [s.strip() for s in phrase.split(GAP)]
                for si, seg in enumerate(segs):
                    n = norm.phrase(seg)
                    if n:
                        atom = Atom(-1, name, si, len(segs), pi, n.count(" ") + 1)
                        self._add(keys, atom, n, inflect, seg.lower())
        # short keys that came from a word with a double letter ("coon" → "con", "nicca" →
        # "nica", "weed" → "wed"): squeezed they collide with ordinary words and names
        self.need_double: frozenset[str] = frozenset(
            k for k in self._doubled - self._single if len(k) <= 4
        )
        del self._doubled, self._single
        # Only one-word keys go in the automaton; keys of several words only ever count on token
        # boundaries, so they are kept as words, by anchor word (half the automaton's nodes).
        # Values are plain ints stored inside the trie nodes (no Python object per key): key
        # length in the low bits, then the screen bit, then the index of the atom-id tuple.
        groups: dict[tuple[int, ...], int] = {}
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        several: dict[str, int] = {}
        for k, ids in keys.items():
            if len(k) > _LEN_MASK:
                raise ValueError(f"lexicon phrase longer than {_LEN_MASK} characters: {k[:40]!r}")
            gid = groups.setdefault(tuple(sorted(ids)), len(groups))
            value = gid << _GID_SHIFT | len(k)
            if " " in k:
                several[k] = value
            else:
                self.automaton.add_word(k, value)
        self.automaton.make_automaton()
        self.groups: tuple[tuple[int, ...], ...] = tuple(groups)
        self.phrases, _ = _phrase_table(several, set())
        self.keys = len(keys)
        self._key_atoms = keys
        self._phrase_keys = several
        # the screen (see build_screen): one-word keys, and the anchors of longer keys
        self.screen_variants = WordSet(())
        self.screen_anchors: frozenset[str] = frozenset()
        self.screen_keys = 0
        self._companion_memo: dict[str, frozenset[str]] = {}

    def build_screen(self, trigger: Callable[[Atom], bool]) -> None:
        """Build the screen from the atoms that can start a hit.

        A composite rule needs every one of its sets, so screening on its rarest set is enough;
        common words that only ever complete a rule ("not", "should") never send a text to the
        full analysis. One-edit misspellings (dropped or swapped letter) of single trigger
        words are screened too, so the spelling correction still gets its chance.

        Screen keys are whole tokens, so no automaton of their own is needed: one-word keys
        are a bit in the automaton's value (misspellings that are no lexicon key are kept in a
        :class:`WordSet`), keys of several words are marked in the phrase table (see
        :func:`_phrase_table`).
        """
        keys: set[str] = set()
        for k, ids in self._key_atoms.items():
            if any(trigger(self.atoms[i]) for i in ids):
                keys.add(k)
        variants: set[str] = set()
        words = {w for k in keys for w in k.split(" ") if w in self._base and w.isalpha()}
        for k in words:
            for i in range(len(k)):
                variants.add(k[:i] + k[i + 1 :])
                if i + 1 < len(k):
                    variants.add(k[:i] + k[i + 1] + k[i] + k[i + 2 :])
        keys.update(v for v in variants if v not in self.known and len(v) >= 3)
        # one-word screen keys: marked in the automaton, misspellings that are no key kept apart
        apart: set[str] = set()
        for k in keys:
            if " " not in k:
                v = self.automaton.get(k, None)
                if v is None:
                    apart.add(k)
                else:
                    self.automaton.add_word(k, v | _SCREEN_BIT)
        self.automaton.make_automaton()
        self.screen_variants = WordSet(apart)
        # keys of several words are all lexicon keys: they are marked in the phrase table
        self.phrases, self.screen_anchors = _phrase_table(
            self._phrase_keys, {k for k in keys if " " in k}
        )
        self.screen_keys = len(keys)
        del self._key_atoms
        del self._base
        del self._phrase_keys

    def _add(
        self, keys: dict[str, set[int]], atom: Atom, n: str, inflect: bool, raw: str = ""
    ) -> None:
        aid = len(self.atoms)
        self.atoms.append(atom)
        self._base.update(w for w in n.split(" ") if len(w) >= 5)
        variants = phrase_variants(n, inflect)
        if " " not in n:
            (self._doubled if _has_double(raw) else self._single).update(variants)
        for v in variants:
            keys.setdefault(v, set()).add(aid)
            if " " in v:
                joined = v.replace(" ", "")
                # "go die" must not become the word "godies"
                if len(joined) >= 6 and joined not in self.known:
                    keys.setdefault(joined, set()).add(aid)

    def any_candidate(self, s: str) -> bool:
        """Fast screen over :meth:`Normaliser.screen` output: could any atom match here?

        True when a screen key is a run of whole tokens, once each long unknown token that
        splits into words is read as those words, or when a long unknown token is made of
        lexicon keys and glue words (see :meth:`screen_form`); the full analysis decides.
        """
        forms = [self.screen_form(t) for t in s.split(" ")]
        if any(role == 2 for role, _form in forms):
            return True
        return self.phrase_hit(" ".join(form for _role, form in forms).split(" "))

    def phrase_hit(self, toks: list[str]) -> bool:
        """Is a screen key of several words a run of ``toks``?

        Under a common anchor ("year", "world") every word of a key is common, so the keys
        under an anchor are only looked at when the second word of one of them (its least
        common other word, see :meth:`_companions`) is among ``toks`` too.
        """
        present = self.screen_anchors.intersection(toks)
        if not present:
            return False
        phrases = self.phrases
        companions = self._companion_memo
        ntoks = len(toks)
        for t in present:
            need = companions.get(t)
            if need is None:
                need = companions[t] = self._companions(t)
            if need.isdisjoint(toks):
                continue
            shapes = phrases[t]
            i = toks.index(t)
            while True:
                for j, n, group in shapes:
                    a = i - j
                    if a < 0 or a + n > ntoks:
                        continue
                    key = " ".join(toks[a : a + n])
                    at = group.find("\n" + key + "\t")
                    if at >= 0 and group[at + len(key) + 2] == _SCREEN_MARK:
                        return True
                try:
                    i = toks.index(t, i + 1)
                except ValueError:
                    break
        return False

    def _companions(self, anchor: str) -> frozenset[str]:
        """The second word (least common after the anchor) of each screen key under
        ``anchor``: a text holding none of them holds none of those keys. Built on first use
        and kept per process (not in the engine cache: about 3,000 anchors, 17,000 words)."""
        out: set[str] = set()
        for _j, _n, group in self.phrases[anchor]:
            for line in group.split("\n"):
                key, tab, value = line.partition("\t")
                if tab and value.startswith(_SCREEN_MARK):
                    ws = key.split(" ")
                    ws.remove(anchor)
                    out.add(_anchor(ws))
        return frozenset(out)

    def __getstate__(self) -> dict[str, object]:
        # the companion memo is rebuilt on use, not stored in the engine cache
        state = dict(self.__dict__)
        state["_companion_memo"] = {}
        return state

    def screen_word(self, w: str) -> int:
        """What the screen token ``w`` can do: 2 it is a one-word key, 1 it is the anchor of a
        longer key, 0 nothing (a text of such tokens never fires the key part of the screen)."""
        v = self.automaton.get(w, 0) if w else 0
        if v & _SCREEN_BIT or w in self.screen_variants:
            return 2
        return 1 if w in self.screen_anchors else 0

    def screen_form(self, w: str) -> tuple[int, str]:
        """What the squeezed screen token ``w`` does in the screen, and the words it stands
        for there: 2 fires the screen, 1 may (the anchor of a longer key), 0 never.

        A long token that is no known word may hide run-together words. Made of lexicon keys
        and glue words ("ihatemuslims", see :meth:`find`), it fires. Split into words by the
        normaliser ("muchdisdain", as the full analysis will), it stands for those words: they
        may complete a key with the words around it. Long names and rare words that do
        neither ("penistone", "photosynthesis") are ordinary tokens.
        """
        role = self.screen_word(w)
        if role == 2 or len(w) < 8 or not self.glue:
            return role, w
        form = w
        known = self.known
        for tok in _LONG_RE.findall(w):
            if tok in known or _inflected_known(tok, known):
                continue
            if self._covered(tok):
                return 2, w
            split = self.normaliser.split_words(tok)
            if split is not None:
                pieces = split.split(" ")
                role = max(role, *map(self.screen_word, pieces))
                if role == 2:
                    return 2, w
                if tok == w:
                    form = split
                else:  # letters and digits ("abc123defghijkl"): rare, screened in full
                    return 2, w
        return role, form

    def _covered(self, tok: str) -> bool:
        """Is ``tok`` a run of automaton keys and glue words (the cover :meth:`_split_token`
        looks for)?"""
        ends: dict[int, list[int]] = {}
        for end, v in self.automaton.iter(tok):
            ends.setdefault(end - (v & _LEN_MASK) + 1, []).append(end + 1)
        if not ends:
            return False
        reach = {0}
        for i in range(len(tok)):
            if i in reach:
                reach.update(ends.get(i, ()))
                reach.update(i + len(g) for g in self.glue if tok.startswith(g, i))
        return len(tok) in reach

    def find(
        self,
        s: str,
        starts: list[int],
        known: Container[str],
        tok_of: list[int] | None = None,
    ) -> list[AtomMatch]:
        """All atom matches in normalised ``s`` whose tokens start at char offsets ``starts``
        (``tok_of``: char offset -> token index, when the caller has it already)."""
        n = len(s)
        out: list[AtomMatch] = []
        inner: dict[int, list[tuple[int, int, tuple[int, ...]]]] = {}
        if tok_of is None:
            tok_of = _token_index(starts, n)
        groups = self.groups
        # (end, value) of keys on token boundaries, in the automaton's order: by end, then
        # longest first
        whole: list[tuple[int, int]] = []
        if len(self.automaton):
            for end, v in self.automaton.iter(s):
                start = end - (v & _LEN_MASK) + 1
                if (start == 0 or s[start - 1] == " ") and (end + 1 == n or s[end + 1] == " "):
                    whole.append((end, v))
                else:
                    inner.setdefault(tok_of[start], []).append(
                        (start, end + 1, groups[v >> _GID_SHIFT])
                    )
        more = self._phrase_matches(s, starts)
        if more:
            whole.extend(more)
            whole.sort(key=lambda m: (m[0], -(m[1] & _LEN_MASK)))
        for end, v in whole:
            start = end - (v & _LEN_MASK) + 1
            t0, t1 = tok_of[start], tok_of[end] + 1
            out.extend(
                AtomMatch(self.atoms[i], t0, t1, start, end + 1) for i in groups[v >> _GID_SHIFT]
            )
        if inner and self.glue:
            for t, found in inner.items():
                out.extend(self._split_token(s, starts, t, found, known))
        return out

    def _phrase_matches(self, s: str, starts: list[int]) -> list[tuple[int, int]]:
        """(end, value) of the several-word keys that are runs of whole tokens of ``s``."""
        phrases = self.phrases
        toks = s.split(" ")
        if phrases.keys().isdisjoint(toks):
            return []
        out: list[tuple[int, int]] = []
        for i, t in enumerate(toks):
            for j, n, group in phrases.get(t, ()):
                a = i - j
                if a < 0 or a + n > len(toks):
                    continue
                at = group.find("\n" + " ".join(toks[a : a + n]) + "\t")
                if at >= 0:
                    at = group.index("\t", at + 1) + 1
                    value = group[at : group.index("\n", at)].lstrip(_SCREEN_MARK)
                    z = a + n - 1
                    out.append((starts[z] + len(toks[z]) - 1, int(value)))
        return out

    def _split_token(
        self,
        s: str,
        starts: list[int],
        t: int,
        found: list[tuple[int, int, tuple[int, ...]]],
        known: Container[str],
    ) -> list[AtomMatch]:
        a = starts[t]
        b = s.find(" ", a)
        b = len(s) if b < 0 else b
        tok = s[a:b]
        if len(tok) < 6 or tok in known:
            return []
        n = len(tok)
        # reach[i] = (previous position, atom ids or None for glue)
        reach: dict[int, tuple[int, tuple[int, ...] | None]] = {0: (-1, None)}
        by_start: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        for c0, c1, ids in found:
            by_start.setdefault(c0 - a, []).append((c1 - a, ids))
        for i in range(n):
            if i not in reach:
                continue
            for j, ids in by_start.get(i, ()):
                if j not in reach or reach[j][1] is None:
                    reach[j] = (i, ids)
            for g in self.glue:
                if tok.startswith(g, i) and i + len(g) not in reach:
                    reach[i + len(g)] = (i, None)
        if n not in reach:
            return []
        out: list[AtomMatch] = []
        pos = n
        while pos > 0:
            prev, got = reach[pos]
            if got is not None:
                out.extend(AtomMatch(self.atoms[x], t, t + 1, a + prev, a + pos) for x in got)
            pos = prev
        return out


# everyday words never chosen as the anchor of a phrase that has another word
_COMMON_WORDS = """one two three four five six ten hundred thousand million more most many much
    over through said say says made make makes making work working works worked year years world
    people person time times day days new first last long back end life lives way ways good great
    best better well even also only other others some like get gets got getting go goes going gone
    come comes came coming take takes took taking give gives gave given see seen saw know known
    knew think thought want wants wanted need needs needed use used using find found tell told ask
    asked call called try tried still national state states government country countries city
    number part place group case week month home house after before between around down under again
    there here then than now out own same each every such both few little big small old young high
    right left man men woman women child children family friend friends name which what where how
    why while since until later early next power control action age total share keep kept live
    living lot area public money business service system program problem point fact water side
    school show shows hand head room mother father large american general social political economic
    military war law court act line level order form game games story job night start started play
    played run set put turn open close free full real sure whole however often always never
    sometimes something nothing everything anything another different important possible"""
_FUNCTION = frozenset(squeeze(w) for w in NO_INFLECT)
_COMMON = frozenset(squeeze(w) for w in _COMMON_WORDS.split()) - _FUNCTION


def _phrase_table(
    keys: dict[str, int], screen: set[str]
) -> tuple[dict[str, tuple[tuple[int, int, str], ...]], frozenset[str]]:
    """Keys of several words by anchor word: anchor -> (its index in the key, words in the key,
    lines ``key<TAB>value``) for each shape of key under that anchor; the value of a screen key
    is marked with ``*``. Also the anchors of the screen keys."""
    by_anchor: dict[str, dict[tuple[int, int], list[str]]] = {}
    screen_anchors: set[str] = set()
    for k, value in keys.items():
        ws = k.split(" ")
        a = _anchor(ws)
        mark = _SCREEN_MARK if k in screen else ""
        by_anchor.setdefault(a, {}).setdefault((ws.index(a), len(ws)), []).append(
            f"{k}\t{mark}{value}"
        )
        if mark:
            screen_anchors.add(a)
    if not screen <= keys.keys():
        raise ValueError("a screen phrase that is not a lexicon key")
    table = {
        a: tuple((j, n, "\n" + "\n".join(sorted(ks)) + "\n") for (j, n), ks in sorted(d.items()))
        for a, d in by_anchor.items()
    }
    return table, frozenset(a for a in table if a in screen_anchors)


def _anchor(words: list[str]) -> str:
    """The word of a several-word key least likely to be common (every word of a key must be a
    token for it to match, so a text without the anchor need not be checked for it)."""
    return min(words, key=lambda w: (w in _FUNCTION, w in _COMMON, len(w) <= 2, -len(w)))


def _inflected_known(tok: str, known: Container[str]) -> bool:
    """``patrolers``, ``countrys``, ``filmaking``: an ordinary word with a regular ending."""
    for suffix in ("s", "es", "ers", "er", "ing", "ed", "d"):
        if tok.endswith(suffix) and tok[: -len(suffix)] in known:
            return True
    return tok[:-1] + "e" + "s" in known


def _has_double(word: str) -> bool:
    return any(a == b and a.isalpha() for a, b in itertools.pairwise(word))


def _token_index(starts: list[int], n: int) -> list[int]:
    idx = [0] * (n + 1)
    last = len(starts) - 1
    for t, a in enumerate(starts):
        b = min(starts[t + 1] if t < last else n + 1, n + 1)
        if b > a:
            idx[a:b] = [t] * (b - a)
    return idx


def token_starts(s: str) -> list[int]:
    """Char offsets at which each space-separated token of ``s`` starts."""
    if not s:
        return []
    # each start is the previous one plus the previous token's length and its space
    return list(itertools.accumulate(map((1).__add__, map(len, s.split(" ")[:-1])), initial=0))
