"""A drop folder: the MIS, Entra, Google or MDM export lands there, the directory re-imports it.

Colleges schedule their exports (a nightly MIS report, an Entra download script) to write into one
folder. `DropFolder` watches it with watchdog, waits until a file has stopped growing, imports it,
and moves it to `processed/` (or `failed/`) next to a `.report.json`. Files already in the folder
at start-up are imported too: an export that landed while the collector was down is not lost.

Which file is which comes from its name (DEFAULT_RULES), or from `drop.yaml` in the folder::

    rules:
      - {pattern: "ProSolution_*.csv", format: mis, mapping: mapping-mis.yaml}
      - {pattern: "intune*.csv", inventory: true}
      - {pattern: "staff*.csv", format: plain, mapping: {source: staff}}
"""

import fnmatch
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from collector.clock import utcnow
from collector.directory.importers import (
    ExportError,
    MappingError,
    canonical_format,
    import_inventory,
    import_people,
)
from collector.directory.people import ImportReport
from collector.directory.store import DirectoryStore

log = logging.getLogger(__name__)

CONFIG_FILE = "drop.yaml"
PROCESSED = "processed"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DropRule:
    pattern: str  # glob on the file name, case-insensitive
    format: str | None = None  # people format; None with inventory=True
    inventory: bool = False
    mapping: Mapping[str, Any] | str | None = None  # dict, or a YAML file name in the folder


DEFAULT_RULES = (
    DropRule("mis*.csv", "mis"),
    DropRule("entra*.csv", "entra"),
    DropRule("google*.csv", "google"),
    DropRule("people*.csv", "plain"),
    DropRule("devices*.csv", inventory=True),
    DropRule("mdm*.csv", inventory=True),
    DropRule("inventory*.csv", inventory=True),
)


def load_rules(folder: Path) -> tuple[DropRule, ...]:
    """The folder's drop.yaml rules, or DEFAULT_RULES when there is none."""
    config = folder / CONFIG_FILE
    if not config.exists():
        return DEFAULT_RULES
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    rules = []
    for raw in data.get("rules") or []:
        if not isinstance(raw, dict) or "pattern" not in raw:
            raise MappingError(f"{config}: every rule needs a pattern")
        inventory = bool(raw.get("inventory", False))
        fmt = None if inventory else canonical_format(str(raw.get("format", "")))
        rules.append(DropRule(str(raw["pattern"]), fmt, inventory, raw.get("mapping")))
    return tuple(rules)


class DropFolder:
    """Watch `folder` and import every export that lands in it (one at a time, in order)."""

    def __init__(
        self,
        directory: DirectoryStore,
        folder: Path,
        *,
        settle_seconds: float = 2.0,
        actor: str = "drop-folder",
    ) -> None:
        self.directory = directory
        self.folder = folder.resolve()
        self.settle_seconds = settle_seconds
        self.actor = actor
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._pending: set[Path] = set()
        self._lock = threading.Lock()
        self.results: list[tuple[Path, ImportReport | str]] = []  # newest last, for status

    # --- lifecycle
    def start(self) -> None:
        for sub in (PROCESSED, FAILED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._worker = threading.Thread(target=self._run, name="drop-folder", daemon=True)
        self._worker.start()
        handler = _Handler(self)
        self._observer = Observer()
        self._observer.schedule(handler, str(self.folder), recursive=False)
        self._observer.start()
        for path in sorted(self.folder.iterdir()):
            self.offer(path)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(30)

    # --- work
    def offer(self, path: Path) -> None:
        """Queue a path if it is an export this folder handles (called by the watcher)."""
        path = path.absolute()
        if path.parent != self.folder or not path.is_file() or self.rule_for(path) is None:
            return
        with self._lock:
            if path in self._pending:
                return
            self._pending.add(path)
        self._queue.put(path)

    def rule_for(self, path: Path) -> DropRule | None:
        name = path.name.lower()
        if name == CONFIG_FILE or name.endswith((".yaml", ".yml", ".json", ".tmp", ".part")):
            return None
        return next(
            (r for r in load_rules(self.folder) if fnmatch.fnmatchcase(name, r.pattern.lower())),
            None,
        )

    def _run(self) -> None:
        while (path := self._queue.get()) is not None:
            try:
                self.process(path)
            except Exception:  # one bad file must not stop the folder
                log.exception("drop folder: %s failed", path.name)
            finally:
                with self._lock:
                    self._pending.discard(path)

    def process(self, path: Path) -> ImportReport | None:
        """Import one file once it has stopped changing; move it away with its report."""
        if not self._settled(path):
            return None
        rule = self.rule_for(path)
        if rule is None:
            return None
        data = path.read_bytes()
        outcome: ImportReport | str
        try:
            mapping = self._mapping(rule)
            if rule.inventory:
                outcome = import_inventory(
                    self.directory, data, mapping, filename=path.name, actor=self.actor
                )
            else:
                assert rule.format is not None
                outcome = import_people(
                    self.directory, data, rule.format, mapping, filename=path.name, actor=self.actor
                )
        except (ExportError, MappingError, OSError, yaml.YAMLError) as exc:
            outcome = str(exc)
        failed = isinstance(outcome, str) or bool(outcome.refused)
        self._file_away(path, outcome, FAILED if failed else PROCESSED)
        self.results.append((path, outcome))
        if isinstance(outcome, str):
            log.warning("drop folder: %s not imported: %s", path.name, outcome)
            return None
        log.info("drop folder: %s imported: %s", path.name, outcome.summary())
        return outcome

    def _mapping(self, rule: DropRule) -> Mapping[str, Any] | None:
        if isinstance(rule.mapping, str):
            loaded = yaml.safe_load((self.folder / rule.mapping).read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise MappingError(f"{rule.mapping}: a mapping file holds a YAML mapping")
            return loaded
        return rule.mapping

    def _settled(self, path: Path) -> bool:
        """Wait until size and mtime stay the same for settle_seconds (exports land in pieces)."""
        last: tuple[int, float] | None = None
        stable_since = time.monotonic()
        deadline = time.monotonic() + max(60.0, self.settle_seconds * 10)
        while time.monotonic() < deadline:
            try:
                st = path.stat()
            except FileNotFoundError:
                return False
            now_sig = (st.st_size, st.st_mtime)
            if now_sig != last:
                last, stable_since = now_sig, time.monotonic()
            elif time.monotonic() - stable_since >= self.settle_seconds:
                return True
            time.sleep(min(0.2, self.settle_seconds / 4 or 0.05))
        return False

    def _file_away(self, path: Path, outcome: ImportReport | str, sub: str) -> None:
        stamp = _stamp(utcnow())
        target = self.folder / sub / f"{stamp}-{path.name}"
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
        body = {"error": outcome} if isinstance(outcome, str) else outcome.as_dict()
        target.with_name(target.name + ".report.json").write_text(
            json.dumps(body, indent=2, default=str), encoding="utf-8"
        )


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%fZ")


class _Handler(FileSystemEventHandler):
    def __init__(self, drop: DropFolder) -> None:
        self.drop = drop

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.drop.offer(Path(str(event.src_path)))

    def on_modified(self, event: FileSystemEvent) -> None:
        self.on_created(event)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.drop.offer(Path(str(event.dest_path)))
