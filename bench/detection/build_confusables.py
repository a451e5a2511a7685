"""Derive the small homoglyph table shipped in the package from Unicode confusables.txt (v13).

Keeps only single non-ASCII code points that Unicode says are confusable with a single ASCII letter
or digit. The raw file stays in ../shared/eval/dev/lexicons; only this derived table is shipped.

    .venv/bin/python bench/detection/build_confusables.py
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT.parent / "shared" / "eval" / "dev" / "lexicons" / "unicode_confusables_v13.txt"
OUT = ROOT / "lantern" / "detection" / "lexicon" / "confusables_latin.txt"


def main() -> None:
    """Write ``confusables_latin.txt``: one ``<hex source> <ascii target>`` pair per line."""
    pairs: dict[str, str] = {}
    for line in SRC.read_text(encoding="utf-8-sig").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(";")]
        src = fields[0].split()
        dst = fields[1].split()
        if len(src) != 1 or len(dst) != 1:
            continue
        s, d = chr(int(src[0], 16)), chr(int(dst[0], 16))
        if s.isascii() or not d.isascii() or not d.isalnum():
            continue
        if unicodedata.category(s).startswith("M"):
            continue
        # characters NFKD already folds to ASCII (fullwidth, mathematical letters) need no entry
        folded = unicodedata.normalize("NFKD", s)
        if folded.isascii():
            continue
        pairs[s] = d.casefold()
    lines = [f"{ord(s):04X} {d}" for s, d in sorted(pairs.items())]
    header = (
        "# Derived from Unicode confusables.txt v13 (Unicode licence) by "
        "bench/detection/build_confusables.py.\n"
        "# <source code point> <ASCII letter or digit it is confusable with>\n"
    )
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} pairs to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
