"""Reading the CSV files colleges export: encodings, delimiters, title lines, line numbers."""

import csv
import io
from dataclasses import dataclass

from collector.directory.importers.mapping import normalise_header

# Exports can carry a title or a date line above the header; look this far for the header.
HEADER_SEARCH_LINES = 10
MAX_FILE_BYTES = 50 * 1024 * 1024


class ExportError(ValueError):
    """The file as a whole cannot be read (no header found, not text, too large)."""


def decode(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), UTF-16 with its BOM (Excel's "Unicode
    text"), else Windows-1252 (older MIS reports)."""
    if len(data) > MAX_FILE_BYTES:
        raise ExportError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ExportError("the file says UTF-16 but is not: save it as CSV UTF-8") from None
    if b"\x00" in data[:4096]:
        raise ExportError("the file is not text (save it as CSV UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # the line the row starts on, 1-based, as a spreadsheet shows it
    cells: dict[str, str]  # normalised header -> trimmed value
    extra_cells: int  # cells beyond the header (a stray comma in an unquoted name)


@dataclass(frozen=True, slots=True)
class CsvTable:
    headers: tuple[str, ...]  # normalised
    header_line: int
    rows: list[CsvRow]


def read_table(data: bytes, must_have: tuple[str, ...] = (), hint: str = "") -> CsvTable:
    """Parse a CSV export. The header is the first of the first lines holding any of `must_have`
    (normalised header names), or the first line if `must_have` is empty; `hint` ends the
    error when there is none."""
    text = decode(data)
    lines = text.splitlines()
    header_index = _find_header(lines, must_have, hint)
    sample = "\n".join(lines[header_index : header_index + 20])
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t|")
    except csv.Error:
        dialect = csv.excel
    stream = io.StringIO("\n".join(lines[header_index:]))
    reader = csv.reader(stream, dialect)
    try:
        raw_headers = next(reader)
    except StopIteration:
        raise ExportError("the file is empty") from None
    headers = tuple(normalise_header(h) for h in raw_headers)
    offset = header_index  # physical lines before the header
    rows: list[CsvRow] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ExportError(f"line {start + offset}: {exc}") from None
        if not any(c.strip() for c in cells):
            continue  # blank lines at the end of Excel exports
        values = {h: c.strip() for h, c in zip(headers, cells, strict=False) if h}
        rows.append(CsvRow(start + offset, values, max(0, len(cells) - len(headers))))
    return CsvTable(headers, header_index + 1, rows)


def _find_header(lines: list[str], must_have: tuple[str, ...], hint: str) -> int:
    if not must_have:
        return 0
    wanted = set(must_have)
    for i, line in enumerate(lines[:HEADER_SEARCH_LINES]):
        try:
            cells = next(csv.reader([line], csv.excel))
        except (csv.Error, StopIteration):
            continue
        if len(cells) < 2:
            cells = next(csv.reader([line], delimiter=";")) if ";" in line else cells
        if len(cells) < 2 and "\t" in line:
            cells = line.split("\t")
        if wanted & {normalise_header(c) for c in cells}:
            return i
    raise ExportError(
        "no header row found: expected a column such as "
        + ", ".join(sorted(must_have)[:5])
        + (f" ({hint})" if hint else "")
    )
