"""A small inotify watcher (Linux): one thread that sleeps until the kernel has an event.

The tamper watch used watchdog's observer, which runs four to six Python threads (reader, one
emitter per watched tree, dispatcher) and hands every event through three queues. The agent's
own state directory is rewritten all the time (the SQLite spool, status.json), so that machinery
woke up for nothing several times a minute: ~0.5% of a core on an idle desktop, most of the
agent's idle cost, and ~2 MiB of imports. Here the kernel filters instead:

* the watch mask has no ``IN_MODIFY``: SQLite writes its spool without closing it (no event at
  all), while an editor, ``cp`` or a script that changes a file closes it (``IN_CLOSE_WRITE``) or
  renames over it (``IN_MOVED_TO``);
* events are parsed with ``struct`` and filtered by name before anything else is built;
* the thread blocks in ``select`` with no periodic wake-up (a pipe ends it).

Sub-directories created later are watched as they appear. Other platforms keep watchdog.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from agent.platform.base import WakePipe

log = logging.getLogger(__name__)

IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

WATCH_MASK = (
    IN_CLOSE_WRITE
    | IN_ATTRIB
    | IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len

#: (event type as watchdog names them: "created", "modified", "deleted", "moved"), path
Callback = Callable[[str, str], None]


def _kind(mask: int) -> str:
    if mask & IN_CREATE:
        return "created"
    if mask & (IN_DELETE | IN_DELETE_SELF):
        return "deleted"
    if mask & (IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF):
        return "moved"
    return "modified"


def available() -> bool:
    return hasattr(os, "uname") and os.uname().sysname == "Linux" and _libc() is not None


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        except (OSError, AttributeError):
            return None
        _LIBC = libc
    return _LIBC


class InotifyWatch:
    """Watches ``paths`` (directories recursively, files alone) and calls ``on_event``.

    ``ignore(path)`` drops an event before the callback (the agent's own busy files); directories
    for which it is true are not watched at all.
    """

    def __init__(
        self,
        paths: Iterable[Path],
        on_event: Callback,
        *,
        ignore: Callable[[str], bool] = lambda _path: False,
    ) -> None:
        self._paths = list(paths)
        self._on_event = on_event
        self._ignore = ignore
        self._fd = -1
        self._wake: WakePipe | None = None
        self._dirs: dict[int, str] = {}  # wd -> watched path
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        libc = _libc()
        if libc is None:
            raise OSError("inotify unavailable")
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd = fd
        for path in self._paths:
            if path.is_dir():
                self._add_tree(str(path))
            else:
                self._add(str(path), directory=False)
        self._wake = WakePipe()
        self._thread = threading.Thread(target=self._run, name="lantern-inotify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._wake is not None:
            self._wake.close()
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = -1

    @property
    def watch_count(self) -> int:
        return len(self._dirs)

    def _add(self, path: str, *, directory: bool) -> None:
        libc = _libc()
        assert libc is not None
        mask = WATCH_MASK | (IN_ONLYDIR if directory else 0)
        wd = libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err not in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                log.warning("cannot watch %s: %s", path, os.strerror(err))
            return
        self._dirs[wd] = path

    def _add_tree(self, top: str) -> None:
        if self._ignore(top):
            return
        self._add(top, directory=True)
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._add_tree(entry.path)

    def _run(self) -> None:
        fd = self._fd
        wake_r = self._wake.r if self._wake is not None else -1
        while not self._stopping:
            try:
                ready, _, _ = select.select([fd, wake_r], [], [])
            except (OSError, ValueError):
                return
            if wake_r in ready or self._stopping:
                return
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            try:
                self._handle(data)
            except Exception as exc:  # a callback failed: keep watching
                log.error("tamper watch callback failed: %s", type(exc).__name__)

    def _handle(self, data: bytes) -> None:
        pos, n, size = 0, len(data), _HEADER.size
        unpack = _HEADER.unpack_from
        while pos + size <= n:
            wd, mask, _cookie, length = unpack(data, pos)
            raw = data[pos + size : pos + size + length]
            pos += size + length
            if mask & IN_Q_OVERFLOW:
                self._on_event("overflow", "")
                continue
            if mask & IN_IGNORED:
                self._dirs.pop(wd, None)
                continue
            parent = self._dirs.get(wd)
            if parent is None:
                continue
            name = raw.rstrip(b"\0")
            path = os.path.join(parent, os.fsdecode(name)) if name else parent
            if self._ignore(path):
                continue
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    self._add_tree(path)  # a new sub-directory: watch it too
                continue  # directory events only echo the file events inside them
            self._on_event(_kind(mask), path)
