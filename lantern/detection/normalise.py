"""Text normalisation for matching: one canonical form for text and for lexicon phrases.

The normalised form is a sequence of tokens separated by single spaces. Tokens are lower-case words
(letters and digits) plus two punctuation tokens that phrases never contain, so a phrase can never
match across them: ``.`` (end of a sentence or clause) and ``"`` (a quotation mark).

Steps, in order (each one is a C-level string or regex operation, so titles stay fast):

1. NFKD, zero-width and soft-hyphen removal, combining marks dropped (é → e, Arabic harakat),
   a few letters that do not decompose folded (ł → l); homoglyphs (Cyrillic/Greek look-alikes from
   Unicode confusables) mapped to Latin, but only inside words that already contain Latin letters.
2. casefold.
3. apostrophes inside words removed (``don't`` → ``dont``); other quote marks become ``"``.
4. leet and symbols inside words (``k1ll``, ``$hit``, ``h@te``) and masks (``f*ck``) resolved against
   the lexicon vocabulary; a token without letters (``455``, ``2024``) is never touched.
5. spaced letters joined (``k i l l``, ``k.i.l.l`` → ``kill``).
6. runs of a repeated letter squeezed to one (``killlll`` → ``kil``; lexicon phrases get the same
   treatment, so ``kill`` is stored as ``kil``).
7. punctuation: sentence punctuation → ``.``, everything else → space; whitespace collapsed.

:meth:`Normaliser.normalise` returns the string only (the fast path used to screen text);
:meth:`Normaliser.normalise_mapped` also returns, for every output character, the index of the
input character it came from, so hits can point back into the original text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Container, Iterable, Iterator
from functools import lru_cache
from importlib import resources

ZERO_WIDTH = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
ZERO_WIDTH += "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u206a\u206b"
ZERO_WIDTH += "\u206c\u206d\u206e\u206f\u3164\ufe00\ufe0f\ufeff\uffa0"
_ZW_TABLE = dict.fromkeys(map(ord, ZERO_WIDTH))
# combining marks (Latin diacritics, Arabic harakat) are dropped after NFKD
_COMBINING_RE = re.compile(
    r"[\u0300-\u036f\u0483-\u0489\u0610-\u061a\u064b-\u065f\u0670"
    r"\u06d6-\u06ed\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
_FOLD = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ø": "o",
        "Ø": "O",
        "ı": "i",
        "ŀ": "l",
        "ħ": "h",
        "þ": "th",
        "ð": "d",
        "æ": "ae",
        "œ": "oe",
    }
)

LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "€": ("e",),
    "!": ("i", "l"),
    "|": ("l", "i"),
    "+": ("t",),
}
MASKS = "*#"
_LEETCH = "".join(re.escape(c) for c in LEET) + re.escape(MASKS)
_LEETCH_SET = frozenset(LEET) | frozenset(MASKS)
# a letter touching a leet/mask character: the only tokens step 4 looks at
_LEET_ANY_RE = re.compile(rf"[^\W\d_][{_LEETCH}]|[{_LEETCH}][^\W\d_]")
# a run of word and leet characters holding at least one leet character (other runs are
# left as they are by step 4, so they are not handed to it)
_LEET_TOKEN_RE = re.compile(rf"(?<![\w{_LEETCH}])[\w{_LEETCH}]*?[{_LEETCH}][\w{_LEETCH}]*")
# an apostrophe between letters; the pattern starts with the character and looks behind from
# there, so the regex engine scans for it instead of trying the lookbehind at every position
_APOS_RE = re.compile(r"['’`´ʼ](?<=[^\W\d_]['’`´ʼ])(?=[^\W\d_])")
_QUOTE_CHARS = "\"“”„«»‹›'‘’`´"
_SENT_CHARS = ".!?;:\n\r\u2026\u3002"
_SEP_TABLE: dict[int, str | None] = {c: " " for c in range(128) if not chr(c).isalnum()}
_SEP_TABLE.update({ord(c): ' " ' for c in _QUOTE_CHARS})
_SEP_TABLE.update({ord(c): " . " for c in _SENT_CHARS})
_ASCII_SEP_RE = re.compile(r"[^a-z0-9 ]")
# non-ASCII punctuation folded to ASCII for the screen (same tokens as the full path)
_PUNCT_FOLD = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "‹": '"',
        "›": '"',
        "‘": "'",
        "’": "'",
        "ʼ": "'",
        "´": "'",
        "…": ".",
        "。": ".",
        "–": " ",
        "—": " ",
        "―": " ",
        "•": " ",
        "·": " ",
        "£": " ",
        "€": " ",
        "©": " ",
        "®": " ",
        "™": " ",
        "°": " ",
        "×": " ",
        "→": " ",
        "←": " ",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2002": " ",
        "\u2003": " ",
    }
)
# 1:1 ASCII table for the screen (CPython translates these at C speed)
_SCREEN_TABLE = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})
# the screen only needs word boundaries: quotes and sentence marks become spaces too
_SCREEN_TABLE.update({ord(c): " " for c in _QUOTE_CHARS if c.isascii()})
_SCREEN_TABLE.update({ord(c): " " for c in _SENT_CHARS if c.isascii()})
_SCREEN_BYTES = bytes(ord(_SCREEN_TABLE.get(i, chr(i)).lower()) for i in range(128)) + bytes(
    range(128, 256)
)
# spaced letters, after punctuation became " " or " . ": "k i l l", "k . i . l . l"
_SPACED_RE = re.compile(r"(?<![^ ])[^\W\d_](?: (?:\. )?[^\W\d_](?![^ ])){2,}")
_SPACED_QUICK_RE = re.compile(r" [^\W\d_] (?:\. )?[^\W\d_] ")
_SPACED_SEP_RE = re.compile(r"[ .]")
_SPACED_SCREEN_RE = re.compile(r" [a-z][ .\"]{1,3}[a-z][ .\"]{1,3}[a-z](?:$|[ .\"])")
# a letter followed by the same letter is dropped: runs collapse to one
_SQUEEZE_RE = re.compile(r"([^\W\d_])(?=\1)")
_SQUEEZE_ASCII_RE = re.compile(r"([A-Za-z])(?=\1)")  # the same on ASCII text, and faster
_OTHER_RE = re.compile(r'[^\w."]+|_+')
_NON_ASCII_OTHER_RE = re.compile(r"[^\x00-\x7f\w]+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
_SPACES_RE = re.compile(r" {2,}")
# @mentions (user names) are dropped; a hashtag keeps its words
_MENTION_RE = re.compile(r"@(?<![\w@]@)\w+|#(?<![\w#]#)(?=\w)")  # literal first: see _APOS_RE
_SPECIAL_QUICK_RE = re.compile(r"[0-9'’`´ʼ@#$!|*+€]")
# ASCII letters -> "a", leet and mask characters -> "l", anything else -> " "
_LEET_CLASS_BYTES = bytes(
    ord("a") if chr(i).isascii() and chr(i).isalpha() else ord("l") if chr(i) in _LEETCH_SET else 32
    for i in range(256)
)
_SPECIAL_RE = re.compile(r"['’`´ʼ@#]|" + _LEET_ANY_RE.pattern)


@lru_cache(maxsize=1)
def confusables() -> dict[int, str]:
    """The derived homoglyph table: code point → ASCII letter or digit."""
    table: dict[int, str] = {}
    text = resources.files("lantern.detection.lexicon").joinpath("confusables_latin.txt")
    for line in text.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        cp, target = line.split()
        table[int(cp, 16)] = target
    return table


@lru_cache(maxsize=1)
def _confusable_re() -> re.Pattern[str]:
    chars = "".join(re.escape(chr(c)) for c in confusables())
    return re.compile(f"[{chars}]")


def _quick_fold_run(m: re.Match[str]) -> str:
    """A run of non-ASCII characters, folded with :func:`_quick_fold` (titles hold a few such
    characters: translating them alone is cheaper than translating the whole text)."""
    return m.group().translate(_quick_fold())


@lru_cache(maxsize=1)
def _quick_fold() -> dict[int, str]:
    """Per-character table giving what :meth:`Normaliser.screen` folds a Latin-1, Latin
    Extended or punctuation character to (NFKD, combining marks dropped, zero-width, fold and
    punctuation tables), for the characters where doing it one character at a time is exact:
    any combining mark their decomposition holds is one that is dropped anyway."""
    chars = {*ZERO_WIDTH, *map(chr, _FOLD), *map(chr, _PUNCT_FOLD)}
    for lo, hi in ((0x80, 0x250), (0x2000, 0x2070), (0x20A0, 0x20D0), (0x2100, 0x2190)):
        chars.update(map(chr, range(lo, hi)))
    table: dict[int, str] = {}
    for c in chars:
        d = unicodedata.normalize("NFKD", c)
        if any(unicodedata.combining(x) and not _COMBINING_RE.match(x) for x in d):
            continue
        out = _COMBINING_RE.sub("", d).translate(_ZW_TABLE).translate(_FOLD)
        out = out.translate(_PUNCT_FOLD)
        if out.isascii():
            table[ord(c)] = out
    return table


# tokens whose split (run-together words) or leet reading is remembered per normaliser
SPLIT_MEMORY = 4096
_WORD_RE = re.compile(r"\w+")
_LONG_WORD_RE = re.compile(r"(?<![\w])[a-z]{6,}(?![\w])")
_LATIN_RE = re.compile(r"[A-Za-z]")

Repl = Callable[[re.Match[str]], str]


class _Buf:
    """A string plus, optionally, the source index of each character."""

    __slots__ = ("off", "s")

    def __init__(self, s: str, off: list[int] | None) -> None:
        self.s = s
        self.off = off

    def per_char(self, fn: Callable[[str], str]) -> None:
        if self.off is None:
            self.s = fn(self.s)
            return
        out: list[str] = []
        off: list[int] = []
        for ch, o in zip(self.s, self.off, strict=True):
            t = fn(ch)
            out.append(t)
            off.extend([o] * len(t))
        self.s = "".join(out)
        self.off = off

    def sub(self, regex: re.Pattern[str], repl: str | Repl) -> None:
        if self.off is None:
            self.s = regex.sub(repl, self.s)
            return
        s, src = self.s, self.off
        matches = regex.finditer(s)
        first = next(matches, None)
        if first is None:  # most steps change nothing in most texts
            return
        # replacements that change the text (a callable often gives the match back unchanged:
        # a long word that is not split)
        changed: list[tuple[int, int, str]] = []
        for m in itertools.chain((first,), matches):
            r = repl(m) if callable(repl) else repl
            if r != m.group():
                changed.append((*m.span(), r))
        if not changed:
            return
        out: list[str] = []
        off: list[int] = []
        pos = 0
        for a, b, r in changed:
            out.append(s[pos:a])
            off += src[pos:a]
            out.append(r)
            n = b - a
            if len(r) == n:
                off += src[a:b]
            elif n == 1:
                off += [src[a]] * len(r)  # one character became several (or none)
            elif r:
                k = len(r)
                off.extend(src[a + (i * n) // k] for i in range(k - 1))
                off.append(src[b - 1] if n else src[a] if a < len(src) else (src[-1] if src else 0))
            pos = b
        out.append(s[pos:])
        off.extend(src[pos:])
        self.s = "".join(out)
        self.off = off


class WordSet:
    """A large, fixed set of words (no whitespace in them) kept compact: the words are grouped by
    their first three letters, one newline-separated string per group. A frozenset of the 74k
    known words costs 6 MB; this costs about 1 MB, and a lookup is a dict lookup plus a
    substring search in a few hundred characters."""

    __slots__ = ("_groups", "_n")

    def __init__(self, words: Iterable[str]) -> None:
        groups: dict[str, list[str]] = {}
        for w in sorted(set(words)):
            if w:
                groups.setdefault(w[:3], []).append(w)
        self._groups = {k: "\n" + "\n".join(v) + "\n" for k, v in groups.items()}
        self._n = sum(map(len, groups.values()))

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        group = self._groups.get(word[:3])
        return group is not None and "\n" + word + "\n" in group

    def __len__(self) -> int:
        return self._n

    def ends(self, s: str, i: int, stop: int) -> list[int]:
        """The ends ``j`` (``i + 3 <= j <= stop``) of the words of the set that start at
        ``s[i]``."""
        group = self._groups.get(s[i : i + 3])
        if group is None:
            return []
        # the group is sorted: the words starting with s[i:j] follow one another, the word
        # s[i:j] itself (if it is one) first, and they lie within those starting with s[i:j-1]
        out: list[int] = []
        at = 0
        for j in range(i + 3, stop + 1):
            at = group.find("\n" + s[i:j], at)
            if at < 0:
                break
            if group[at + 1 + j - i] == "\n":
                out.append(j)
        return out

    def __iter__(self) -> Iterator[str]:
        for group in self._groups.values():
            yield from group[1:-1].split("\n")


def _nfkd(s: str) -> str:
    return unicodedata.normalize("NFKD", s)


class Normaliser:
    """Normalises text and phrases the same way; ``vocab`` resolves ambiguous leet and masks."""

    def __init__(
        self,
        vocab: Iterable[str] = (),
        english: Container[str] = frozenset(),
        glue: frozenset[str] = frozenset(),
    ) -> None:
        self.vocab: WordSet | frozenset[str] = (
            vocab if isinstance(vocab, WordSet) else frozenset(vocab)
        )
        self.english = english
        self.glue = glue
        self._glue_len = max(map(len, glue), default=0)  # the longest glue word
        self._memo: dict[str, str] = {}
        self._split_memo: dict[str, str | None] = {}
        self._leet_memo: dict[str, str] = {}
        self._by_len: dict[int, list[str]] | None = None

    def __getstate__(self) -> dict[str, object]:
        # memos and derived tables are rebuilt on use, not stored in the engine cache
        state = dict(self.__dict__)
        state.update(_memo={}, _split_memo={}, _leet_memo={}, _by_len=None)
        return state

    def forget_words(self) -> None:
        """Empty the memos of run-together splits and leet readings."""
        self._split_memo.clear()
        self._leet_memo.clear()

    def _words_of_length(self, n: int) -> list[str]:
        """Vocabulary words of ``n`` letters, sorted (to resolve masks such as ``f*ck``)."""
        if self._by_len is None:
            by_len: dict[int, list[str]] = {}
            for w in self.vocab:
                by_len.setdefault(len(w), []).append(w)
            self._by_len = {k: sorted(v) for k, v in by_len.items()}
        return self._by_len.get(n, [])

    # -- public -------------------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        """The normalised form of ``text`` (see the module docstring)."""
        b = _Buf(text, None)
        self._run(b)
        return b.s

    def phrase(self, text: str) -> str:
        """:meth:`normalise` for lexicon phrases, memoised (phrases repeat across entries)."""
        memo = self._memo
        got = memo.get(text)
        if got is None:
            got = memo[text] = self.normalise(text)
        return got

    def screen(self, text: str) -> str:
        """A cheap form for screening: the words of :meth:`normalise` separated by single spaces
        (punctuation tokens may be missing or present; the screen only needs word boundaries).

        This is the hot path (titles, keystrokes): for ASCII text it is a handful of C-level
        string operations. Text it cannot screen cheaply gets the full normal form.
        """
        raw = self.screen_raw(text)
        if raw is None:
            return self.normalise(text)
        return self.screen_finish(text, raw)

    def screen_raw(self, text: str) -> str | None:
        """The first steps of :meth:`screen`: ASCII, lower case, leet resolved, punctuation as
        spaces, repeated letters not yet squeezed (``[a-z0-9]`` words between runs of spaces).
        None when the text needs the full normal form (scripts other than Latin)."""
        if not text.isascii():
            # accents, dashes, curly quotes: fold to ASCII cheaply; other scripts take the
            # full path (homoglyph mapping needs it)
            folded = _NON_ASCII_RE.sub(_quick_fold_run, text)
            if not folded.isascii():
                folded = _COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))
                folded = folded.translate(_ZW_TABLE).translate(_FOLD).translate(_PUNCT_FOLD)
                # other symbols and punctuation ("¿", "♪", "¦") separate words, as in step 7
                folded = _NON_ASCII_OTHER_RE.sub(" ", folded)
                if not folded.isascii():
                    return None
            text = folded
        s = text
        if _SPECIAL_QUICK_RE.search(s) is not None:  # most titles have none of these
            if "'" in s or "`" in s:
                s = _APOS_RE.sub("", s)
            if "@" in s or "#" in s:
                s = _MENTION_RE.sub(" ", s.lower())
            # a letter touching a leet character (_LEET_ANY_RE), found with one C-level pass
            classes = s.encode("ascii").translate(_LEET_CLASS_BYTES)
            if b"al" in classes or b"la" in classes:
                s = _LEET_TOKEN_RE.sub(self._deleet, s.lower())
        # one C-level pass lower-cases and turns punctuation into spaces
        return s.encode("ascii").translate(_SCREEN_BYTES).decode("ascii")

    def screen_finish(self, text: str, raw: str) -> str:
        """:meth:`screen` from the :meth:`screen_raw` form ``raw`` of ``text``."""
        s = " ".join(_SQUEEZE_ASCII_RE.sub("", raw).split())
        if _SPACED_SCREEN_RE.search(" " + s):
            return self.normalise(text)
        return s

    def normalise_mapped(self, text: str) -> tuple[str, list[int]]:
        """The normalised form and, per output character, the index of its source character."""
        b = _Buf(text, list(range(len(text))))
        self._run(b)
        assert b.off is not None
        return b.s, b.off

    # -- pipeline -----------------------------------------------------------------------------
    def _run(self, b: _Buf) -> None:
        orig = b.s
        ascii_only = b.s.isascii()
        if not ascii_only:
            b.per_char(_nfkd)
            b.sub(_COMBINING_RE, "")
            b.per_char(lambda c: c.translate(_ZW_TABLE).translate(_FOLD))
            if _confusable_re().search(b.s):
                b.sub(_WORD_RE, _homoglyph_word)
        if b.off is None or ascii_only:
            b.s = b.s.lower() if ascii_only else b.s.casefold()  # ASCII: same length
        else:
            b.per_char(str.casefold)
        if _SPECIAL_RE.search(b.s):
            b.sub(_APOS_RE, "")
            b.sub(_MENTION_RE, " ")
            if _LEET_ANY_RE.search(b.s):
                b.sub(_LEET_TOKEN_RE, self._deleet)
        b.sub(_SQUEEZE_RE, "")
        if b.off is None:
            s = b.s.translate(_SEP_TABLE)
            if not ascii_only:
                s = _OTHER_RE.sub(" ", s)
            b.s = " ".join(s.split())
        else:
            if ascii_only:
                sep = b.s.translate(_SEP_TABLE)
                if len(sep) == len(b.s):  # each character became one: the offsets stand
                    b.s = sep
                else:
                    b.sub(_ASCII_SEP_RE, lambda m: _SEP_TABLE[ord(m.group())] or "")
            else:
                b.per_char(lambda c: c.translate(_SEP_TABLE))
            if not ascii_only:
                b.sub(_OTHER_RE, " ")
            b.sub(_SPACES_RE, " ")
            _strip(b)
        if _SPACED_QUICK_RE.search(" " + b.s + " "):
            b.sub(_SPACED_RE, self._join)
        if b.off is not None and self.english and self.vocab:
            src_off = b.off
            b.sub(_LONG_WORD_RE, lambda m: self._segment(m, orig, src_off))

    def _segment(self, m: re.Match[str], orig: str, off: list[int]) -> str:
        """Split a run-together token ("muchdisdain", "ihate") into known words, but only when
        the token is not itself a word, one piece is a lexicon word, and it is not capitalised
        like a proper noun (Penistone, Ivanhoe keep their letters together)."""
        tok = m.group()
        split = self.split_words(tok)
        if split is None:
            return tok
        # proper-noun guard: look at the original capitalisation
        word = orig[off[m.start()] : off[m.end() - 1] + 1]
        if word[:1].isupper() and word[1:].islower():
            return tok
        return split

    def split_words(self, tok: str) -> str | None:
        """The pieces of a run-together token ("muchdisdain" → "much disdain") joined by
        spaces, or None to keep it whole (remembered for up to ``SPLIT_MEMORY`` tokens)."""
        memo = self._split_memo
        split = memo.get(tok, "")
        if split == "":
            split = self._split(tok)
            if len(memo) < SPLIT_MEMORY:  # titles and typing repeat their long words
                memo[tok] = split
        return split

    def _split(self, tok: str) -> str | None:
        if tok in self.english or tok in self.vocab:
            return None
        for suffix in ("s", "es", "ers", "er", "ing", "ed", "d"):
            if tok.endswith(suffix) and tok[: -len(suffix)] in self.english:
                return None  # an inflected or possessive word ("jerky's" → "jerkys")
        n = len(tok)
        # best[i] = fewest pieces covering tok[:i]
        best: list[tuple[int, int] | None] = [None] * (n + 1)
        best[0] = (0, 0)
        for i in range(n):
            cur = best[i]
            if cur is None or cur[0] >= 3:
                continue
            stop = min(n, i + 20)
            ends = {
                j for j in range(i + 1, min(stop, i + self._glue_len) + 1) if tok[i:j] in self.glue
            }
            ends.update(_word_ends(self.vocab, tok, i, stop))
            ends.update(_word_ends(self.english, tok, i, stop))
            for j in ends:
                prev = best[j]
                if prev is None or prev[0] > cur[0] + 1:
                    best[j] = (cur[0] + 1, i)
        if best[n] is None:
            return None
        pieces: list[str] = []
        j = n
        while j > 0:
            step = best[j]
            assert step is not None
            pieces.append(tok[step[1] : j])
            j = step[1]
        pieces.reverse()
        if len(pieces) < 2 or not any(p in self.vocab and len(p) >= 3 for p in pieces):
            return None
        return " ".join(pieces)

    def _join(self, m: re.Match[str]) -> str:
        """Join spaced letters; "i c u t" is "i cut" when "cut" is a lexicon word and "icut"
        is not (a leading pronoun or article stays a word of its own)."""
        whole = _join_spaced(m)
        run = m.group()
        if run[:2] in ("i ", "a ") and whole not in self.vocab:
            rest = _SQUEEZE_RE.sub("", _SPACED_SEP_RE.sub("", run[2:]))
            if rest in self.vocab:
                return run[0] + " " + rest
        return whole

    def _deleet(self, m: re.Match[str]) -> str:
        tok = m.group()
        memo = self._leet_memo
        got = memo.get(tok)
        if got is None:
            got = self._deleet_token(tok)
            if len(memo) < SPLIT_MEMORY:  # typing re-reads the same words at every boundary
                memo[tok] = got
        return got

    def _deleet_token(self, tok: str) -> str:
        # leading/trailing symbols are punctuation ("kill!", "|"), not letters
        core = tok.strip("!|+*#")
        lead = len(tok) - len(tok.lstrip("!|+*#"))
        trail = len(tok) - len(tok.rstrip("!|+*#"))
        if not any(c.isalpha() for c in core) or not any(c in LEET or c in MASKS for c in core):
            return tok
        # masks at the end of a word ("fu**") are masks, not punctuation, when letters precede
        if trail and tok[len(tok) - trail] in MASKS and len(core) >= 1:
            core = tok[lead:]
            trail = 0
        word = self._resolve(core)
        return " " * lead + word + " " * trail

    def _resolve(self, core: str) -> str:
        default = "".join(LEET[c][0] if c in LEET else c for c in core)
        default_sq = squeeze(default)
        if "*" in core or "#" in core:
            core_sq = squeeze(core)
            pat = "".join(
                "[^\\W\\d_]"
                if c in MASKS
                else f"[{''.join(LEET[c])}]"
                if c in LEET
                else re.escape(c)
                for c in core_sq
            )
            rx = re.compile(pat)
            for w in self._words_of_length(len(core_sq)):
                if rx.fullmatch(w):
                    return w
            # masked runs may stand for more or fewer letters: try a loose pattern
            loose = re.compile(re.sub(r"(?:\[\^\\W\\d_\])+", "[^\\\\W\\\\d_]{1,4}", pat))
            for n in range(len(core_sq) - 2, len(core_sq) + 4):
                for w in self._words_of_length(n):
                    if loose.fullmatch(w):
                        return w
            return default.replace("*", "").replace("#", "")
        if default_sq in self.vocab or not self.vocab:
            return default
        # ambiguous characters: try the alternatives against the vocabulary
        options = [LEET.get(c, (c,)) for c in core]
        amb = [i for i, o in enumerate(options) if len(o) > 1]
        if not amb or len(amb) > 4:
            return default
        for mask in range(1, 1 << len(amb)):
            chars = [o[0] for o in options]
            for j, i in enumerate(amb):
                if mask >> j & 1:
                    chars[i] = options[i][1]
            cand = "".join(chars)
            if squeeze(cand) in self.vocab:
                return cand
        return default


def _word_ends(words: Container[str], s: str, i: int, stop: int) -> list[int]:
    """The ends ``j`` (``i + 3 <= j <= stop``) of the words of ``words`` that start at ``s[i]``."""
    if isinstance(words, WordSet):
        return words.ends(s, i, stop)
    return [j for j in range(i + 3, stop + 1) if s[i:j] in words]


def _homoglyph_word(m: re.Match[str]) -> str:
    w = m.group()
    if w.isascii() or not _LATIN_RE.search(w):
        return w
    return w.translate(confusables())


def _join_spaced(m: re.Match[str]) -> str:
    return _SQUEEZE_RE.sub("", _SPACED_SEP_RE.sub("", m.group()))


def _strip(b: _Buf) -> None:
    s = b.s
    a = len(s) - len(s.lstrip(" "))
    e = len(s.rstrip(" "))
    if a == 0 and e == len(s):
        return
    b.s = s[a:e]
    if b.off is not None:
        b.off = b.off[a:e]


def squeeze(word: str) -> str:
    """Collapse runs of a repeated letter (the form phrases are stored in)."""
    return (_SQUEEZE_ASCII_RE if word.isascii() else _SQUEEZE_RE).sub("", word)
