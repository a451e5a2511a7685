"""The expected-devices list: a CSV exported from the college's device management, imported whole.

Coverage compares it with the enrolled fleet. Each MDM names its columns differently; headers
are compared lower-case with only letters and digits kept, and the first known name wins:

| field    | Intune              | SCCM (ConfigMgr)        | Jamf Pro        | Google Admin (ChromeOS) |
|----------|---------------------|-------------------------|-----------------|-------------------------|
| serial   | Serial number       | SerialNumber0 / Serial  | Serial Number   | Serial Number           |
| hostname | Device name         | Name / Netbios_Name0    | Computer Name   | Asset ID                |
| site     | (Category)          | Site Code / AD Site     | Site / Building | Annotated Location      |
| group    | Device category     | Collection              | Department      | Org Unit Path           |

User columns (primary user, annotated user, email) are personal data and are never read.
"""

import csv
import io
import re
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from collector.clock import utcnow
from collector.coverage import ExpectedDevice
from collector.store import Store
from collector.web.audit import append, write
from collector.web.models import expected_device_imports, expected_devices

SOURCES = ("intune", "sccm", "jamf", "google", "csv")
MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024

_COLUMNS: dict[str, tuple[str, ...]] = {
    "serial": ("serialnumber", "serial", "serialnumber0", "serialno", "hardwareserial"),
    "hostname": (
        "devicename",
        "computername",
        "hostname",
        "name",
        "netbiosname0",
        "netbiosname",
        "assetid",
        "annotatedassetid",
    ),
    "site": (
        "site",
        "sitename",
        "sitecode",
        "adsitename0",
        "adsite",
        "building",
        "annotatedlocation",
        "location",
        "campus",
    ),
    "group_name": (
        "group",
        "groupname",
        "devicecategory",
        "category",
        "collection",
        "collectionname",
        "department",
        "orgunitpath",
        "orgunit",
    ),
}
_NON_ALNUM = re.compile(r"[^0-9a-z]")


class ExportUnreadable(ValueError):
    """The file cannot be used (no serial or hostname column, too big, not CSV)."""


@dataclass(frozen=True, slots=True)
class ParsedExport:
    devices: list[ExpectedDevice]
    skipped: int  # rows with neither serial nor hostname
    columns: dict[str, str]  # field -> header used


def _norm(header: str) -> str:
    return _NON_ALNUM.sub("", header.strip().lower())


def parse_export(data: bytes) -> ParsedExport:
    """Read an MDM export (UTF-8 or UTF-16 as Excel saves it; comma, semicolon or tab)."""
    if len(data) > MAX_BYTES:
        raise ExportUnreadable(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    text = (
        data.decode("utf-16")
        if data[:2] in (b"\xff\xfe", b"\xfe\xff")
        else data.decode("utf-8-sig", errors="replace")
    )
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise ExportUnreadable("the file is empty") from None
    index = {_norm(h): i for i, h in reversed(list(enumerate(headers)))}
    used: dict[str, str] = {}
    positions: dict[str, int] = {}
    for fld, names in _COLUMNS.items():
        for name in names:
            if name in index:
                positions[fld] = index[name]
                used[fld] = headers[index[name]]
                break
    if "serial" not in positions and "hostname" not in positions:
        raise ExportUnreadable(
            "no serial number or device name column found; expected headers such as "
            "'Serial number' and 'Device name'"
        )
    out: list[ExpectedDevice] = []
    skipped = 0
    for n, row in enumerate(reader):
        if n >= MAX_ROWS:
            raise ExportUnreadable(f"more than {MAX_ROWS} rows")

        def get(fld: str, row: list[str] = row) -> str:
            i = positions.get(fld)
            return row[i].strip()[:255] if i is not None and i < len(row) else ""

        serial, hostname = get("serial")[:128], get("hostname")
        if not serial and not hostname:
            skipped += 1
            continue
        out.append(
            ExpectedDevice(
                serial=serial,
                hostname=hostname,
                site=get("site")[:128],
                group_name=get("group_name").strip("/")[:128],
            )
        )
    return ParsedExport(out, skipped, used)


def replace_expected(
    store: Store, actor: str, source: str, filename: str, parsed: ParsedExport
) -> int:
    """Replace the whole expected list with this import; returns the import id."""
    with write(store) as conn:
        import_id = int(
            conn.execute(
                insert(expected_device_imports).values(
                    at=utcnow(),
                    actor=actor,
                    source=source,
                    filename=filename[:255],
                    rows=len(parsed.devices),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        conn.execute(delete(expected_devices))
        if parsed.devices:
            conn.execute(
                insert(expected_devices),
                [
                    {
                        "serial": d.serial,
                        "hostname": d.hostname,
                        "site": d.site,
                        "group_name": d.group_name,
                        "import_id": import_id,
                    }
                    for d in parsed.devices
                ],
            )
        append(
            conn,
            actor,
            "expected_devices.import",
            "expected_devices",
            import_id,
            {"source": source, "rows": len(parsed.devices), "skipped": parsed.skipped},
        )
    return import_id


def load_expected(engine: Engine) -> list[ExpectedDevice]:
    e = expected_devices
    with engine.connect() as conn:
        rows = conn.execute(select(e.c.serial, e.c.hostname, e.c.site, e.c.group_name)).all()
    return [ExpectedDevice(*r) for r in rows]


def last_import(engine: Engine) -> dict[str, object] | None:
    i = expected_device_imports
    with engine.connect() as conn:
        row = conn.execute(select(i).order_by(i.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None
