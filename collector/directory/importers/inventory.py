"""The device inventory an MDM exports: serial/hostname -> site, group.

It places devices in groups (for group policies) and it is the list of devices coverage expects
to be monitored. Each MDM names its columns differently; headers are compared lower-case with
only letters and digits kept, and the first known name wins:

| field    | Intune            | SCCM (ConfigMgr)        | Jamf Pro        | Google Admin (ChromeOS) |
|----------|-------------------|-------------------------|-----------------|-------------------------|
| serial   | Serial number     | SerialNumber0 / Serial  | Serial Number   | Serial Number           |
| hostname | Device name       | Name / Netbios_Name0    | Computer Name   | Asset ID                |
| site     | (none)            | Site Code / AD Site     | Site / Building | Annotated Location      |
| group    | Device category   | Collection              | Department      | Org Unit Path           |

A plain file may say serial, hostname, site, group. Override with `columns` as for people
imports. User columns (primary user, annotated user, email) are personal data and never read.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.directory.groups import normalise_group
from collector.directory.importers.csvfile import read_table
from collector.directory.importers.mapping import MappingError, normalise_header
from collector.directory.people import Unusable

INVENTORY_FIELDS = ("serial", "hostname", "site", "group")

DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "serial": (
        "serial",
        "Serial number",
        "SerialNumber0",
        "Serial No",
        "Hardware Serial",
        "Device Serial Number",
    ),
    "hostname": (
        "hostname",
        "Device name",
        "Computer Name",
        "Host name",
        "Name",
        "Netbios_Name0",
        "Netbios Name",
        "Asset ID",
        "Annotated Asset ID",
    ),
    "site": (
        "site",
        "Site name",
        "Site Code",
        "AD_Site_Name0",
        "AD Site",
        "Building",
        "Annotated Location",
        "Location",
        "Campus",
    ),
    "group": (
        "group",
        "Group name",
        "Device Group",
        "Device category",
        "Category",
        "Collection",
        "Collection name",
        "Department",
        "Org Unit Path",
        "Org Unit",
    ),
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
    table = read_table(
        data,
        cols["serial"] + cols["hostname"],
        "a serial number or device name column; set columns.serial or columns.hostname",
    )
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
        group = cell(row.cells, "group").strip("/")  # Google's org unit path: /Students/Y9
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
