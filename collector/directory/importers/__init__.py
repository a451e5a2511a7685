"""Importers: people exports (MIS, Entra ID, Google Workspace, plain CSV) and the MDM inventory.

    report = import_people(directory, Path("mis.csv").read_bytes(), "mis", filename="mis.csv")
    report = import_inventory(directory, Path("intune.csv").read_bytes())

Both return an ImportReport (added, changed, left, unusable rows with line numbers and why);
`dry_run=True` computes the same report and writes nothing. A file that cannot be read at all
raises ExportError; a bad mapping raises MappingError.
"""

import hashlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.clock import utcnow
from collector.directory.importers.csvfile import ExportError
from collector.directory.importers.inventory import inventory_columns, parse_inventory
from collector.directory.importers.mapping import (
    FORMATS,
    ColumnMapping,
    MappingError,
    canonical_format,
    load_mapping,
)
from collector.directory.importers.people import parse_people
from collector.directory.people import ImportReport

if TYPE_CHECKING:
    from collector.directory.store import DirectoryStore

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "ExportError",
    "MappingError",
    "canonical_format",
    "import_inventory",
    "import_people",
    "load_mapping",
]


def import_people(
    directory: "DirectoryStore",
    data: bytes,
    fmt: str,
    mapping: Mapping[str, Any] | str | Path | None = None,
    *,
    filename: str = "",
    actor: str = "import",
    dry_run: bool = False,
    allow_mass_leave: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Parse a people export of format `fmt` (mis | entra | google | plain, or csv) and apply it."""
    now = now or utcnow()
    column_mapping = load_mapping(fmt, mapping)
    parsed = parse_people(data, column_mapping, today=now.date())
    return directory.apply_people_import(
        column_mapping.source_name,
        parsed,
        default_role=column_mapping.default_role,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        actor=actor,
        now=now,
        dry_run=dry_run,
        allow_mass_leave=allow_mass_leave,
    )


def import_inventory(
    directory: "DirectoryStore",
    data: bytes,
    columns: Mapping[str, Any] | None = None,
    *,
    filename: str = "",
    actor: str = "import",
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Parse an MDM device export (serial/hostname -> site/group) and replace the inventory."""
    parsed = parse_inventory(data, inventory_columns(columns))
    return directory.apply_inventory_import(
        parsed,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        actor=actor,
        now=now,
        dry_run=dry_run,
    )
