"""On-disk cache of the compiled engine, so the agent starts in well under 200 ms.

Compiling the lexicon (normalising phrases, inflecting them, building the automaton) takes about a
second; loading the compiled engine back takes tens of milliseconds. The cache key is a hash of the
lexicon files, the package's own source files and the Python and pyahocorasick versions, so any
change rebuilds it. Files live in ``$LANTERN_DETECTION_CACHE`` (``0`` disables caching), else
``$XDG_CACHE_HOME/lantern`` or ``~/.cache/lantern``. A cache file is only read when it and its
directory belong to the current user and are not writable by others (it is a pickle).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ahocorasick

from lantern.detection.lexicon import default_dir

FORMAT = b"lantern-detection-cache-1"


def _code_hash() -> bytes:
    # hashed when the package is imported, so a process keeps the key of the code it runs
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for f in [*sorted(pkg.glob("*.py")), pkg / "lexicon" / "__init__.py"]:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.digest()


_CODE = _code_hash()


def cache_dir() -> Path | None:
    """Where compiled engines are cached, or None when caching is disabled."""
    env = os.environ.get("LANTERN_DETECTION_CACHE")
    if env == "0":
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lantern"


def cache_key(
    lexicon_dir: Path | None,
    categories: Iterable[str] | None,
    languages: Iterable[str] | None,
    local: Iterable[object] = (),
) -> str:
    """Hash of everything the compiled engine depends on ('' when caching is disabled); ``local``
    are the college's own keyword changes (records with a stable ``repr``)."""
    if cache_dir() is None:
        return ""
    h = hashlib.sha256(FORMAT)
    for k in local:
        h.update(repr(k).encode() + b"\0")
    h.update(_CODE)
    h.update(sys.version.encode())
    h.update(str(getattr(ahocorasick, "__version__", "")).encode())
    h.update(
        repr(
            (
                sorted(categories) if categories is not None else None,
                sorted(languages) if languages is not None else None,
            )
        ).encode()
    )
    d = Path(lexicon_dir) if lexicon_dir is not None else default_dir()
    files = sorted(d.glob("*.yaml")) + sorted(default_dir().glob("*.txt"))
    for f in files:
        h.update(f.name.encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:32]


def _trusted(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_cache(key: str) -> Any:
    """The cached engine for ``key``, or None."""
    d = cache_dir()
    if d is None:
        return None
    path = d / f"engine-{key}.pickle"
    if not (path.exists() and _trusted(d) and _trusted(path)):
        return None
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception:  # a stale or truncated cache is rebuilt
        return None


def write_cache(key: str, engine: Any) -> None:
    """Store ``engine`` under ``key``; failures (read-only home, no space) are ignored."""
    d = cache_dir()
    if d is None:
        return
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(d):
            return
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".engine-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(engine, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.chmod(tmp, 0o600)
            os.replace(tmp, d / f"engine-{key}.pickle")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        # keep the few most recent (different category/language selections have their own)
        olds = sorted(d.glob("engine-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in olds[8:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
