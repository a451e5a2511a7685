"""The device inventory an MDM exports (Intune, Jamf, Google endpoints): serial/hostname -> site, group.

Default headers cover Intune's "Export devices" (Device name, Serial number, Category), Jamf Pro's
inventory export (Computer Name, Serial Number, Site, Department) and a plain file
(serial, hostname, site, group). Override with `columns` as for people imports.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.directory.groups import normalise_group
from collector.directory.importers.csvfile import read_table
from collector.directory.importers.mapping import MappingError, normalise_header
from collector.directory.people import Unusable

INVENTORY_FIELDS = ("serial", "hostname", "site", "group")

DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "serial": ("serial", "Serial number", "Serial", "Hardware Serial", "Device Serial Number"),
    "hostname": ("hostname", "Device name", "Computer Name", "Host name", "Name"),
    "site": ("site", "Site", "Location", "Campus", "Building"),
    "group": ("group", "Group", "Device Group", "Category", "Device category", "Department"),
}


@dataclass(frozen=True, slots=True)
class InventoryRow:
    line: int
    serial: str  # upper-cased, as serials are printed
    hostname: str  # lower-cased: Windows, macOS and DNS disagree on case
    site: str
    group_name: str


@dataclass(slots=True)
class ParsedInventory:
    rows: list[InventoryRow] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    total: int = 0


def inventory_columns(overrides: Mapping[str, object] | None = None) -> dict[str, tuple[str, ...]]:
    columns = dict(DEFAULT_COLUMNS)
    for name, headers in dict(overrides or {}).items():
        if name not in INVENTORY_FIELDS:
            raise MappingError(
                f"unknown inventory field {name!r}: use {', '.join(INVENTORY_FIELDS)}"
            )
        columns[name] = (headers,) if isinstance(headers, str) else tuple(headers)  # type: ignore[arg-type]
    return columns


def parse_inventory(
    data: bytes, columns: Mapping[str, tuple[str, ...]] | None = None
) -> ParsedInventory:
    cols = {
        k: tuple(normalise_header(h) for h in v) for k, v in (columns or DEFAULT_COLUMNS).items()
    }
    table = read_table(data, cols["serial"] + cols["hostname"])
    result = ParsedInventory(total=len(table.rows))
    seen: dict[str, int] = {}

    def cell(cells: dict[str, str], name: str) -> str:
        return next((cells[h] for h in cols[name] if cells.get(h)), "")

    for row in table.rows:
        serial = cell(row.cells, "serial").upper()
        hostname = cell(row.cells, "hostname").lower()
        if not serial and not hostname:
            result.unusable.append(Unusable(row.line, "no serial number and no hostname"))
            continue
        key = serial or f"host:{hostname}"
        if key in seen:
            result.unusable.append(
                Unusable(row.line, f"duplicate device: the same device is on line {seen[key]}", key)
            )
            continue
        seen[key] = row.line
        group = cell(row.cells, "group")
        result.rows.append(
            InventoryRow(
                line=row.line,
                serial=serial,
                hostname=hostname,
                site=cell(row.cells, "site"),
                group_name=normalise_group(group) if group else "",
            )
        )
    return result
