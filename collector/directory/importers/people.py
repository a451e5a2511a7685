"""Turn a people export (MIS, Entra, Google, plain) into PersonRows and a list of unusable rows."""

from dataclasses import dataclass, field
from datetime import date, datetime

from collector.directory.groups import normalise_group, split_groups
from collector.directory.importers.csvfile import CsvRow, read_table
from collector.directory.importers.mapping import ColumnMapping, normalise_header
from collector.directory.logins import import_logins, normalise
from collector.directory.people import ROLES, PersonRow, Role, Unusable

# UK day-first forms and ISO; never month-first, and never two-digit years (01/02/03 is a guess).
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y")
MAX_AGE_YEARS = 100


@dataclass(slots=True)
class ParsedExport:
    rows: list[PersonRow] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)  # external ids the export says are inactive
    total: int = 0


def parse_people(data: bytes, mapping: ColumnMapping, today: date) -> ParsedExport:
    """Parse an export. `today` bounds plausible dates of birth."""
    table = read_table(
        data, mapping.headers_for("external_id"), "set columns.external_id in the mapping"
    )
    result = ParsedExport(total=len(table.rows))
    seen: dict[str, int] = {}
    seen_logins: dict[str, int] = {}
    for row in table.rows:
        try:
            person, active = _person(row, mapping, today)
        except _RowError as exc:
            result.unusable.append(Unusable(row.line, exc.reason, exc.external_id))
            continue
        if person.external_id in seen:
            result.unusable.append(
                Unusable(
                    row.line,
                    f"duplicate id: the same id is on line {seen[person.external_id]}",
                    person.external_id,
                )
            )
            continue
        seen[person.external_id] = row.line
        if not active:
            result.inactive.append(person.external_id)
            continue
        clash = next((seen_logins[lg] for lg, _ in person.logins if lg in seen_logins), None)
        if clash is not None:
            result.unusable.append(
                Unusable(
                    row.line,
                    f"duplicate login: a login on this row is also on line {clash}",
                    person.external_id,
                )
            )
            continue
        for login, _ in person.logins:
            seen_logins[login] = row.line
        result.rows.append(person)
    return result


class _RowError(Exception):
    def __init__(self, reason: str, external_id: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.external_id = external_id


def _cell(row: CsvRow, mapping: ColumnMapping, name: str) -> str | None:
    """The first non-empty cell among the field's headers; None if none has a value."""
    for header in mapping.headers_for(name):
        value = row.cells.get(header)
        if value:
            return value
    return None


def _person(row: CsvRow, mapping: ColumnMapping, today: date) -> tuple[PersonRow, bool]:
    external_id = _cell(row, mapping, "external_id")
    if not external_id:
        raise _RowError("no id: the id column is empty")
    if len(external_id) > 128:
        raise _RowError("id longer than 128 characters")
    if row.extra_cells:
        raise _RowError(
            f"{row.extra_cells} more cell(s) than the header: an unquoted comma?", external_id
        )
    given = _cell(row, mapping, "given_name")
    family = _cell(row, mapping, "family_name")
    full = _cell(row, mapping, "full_name")
    if not given and not family and full:
        given, _, family = full.rpartition(" ") if " " in full else (full, "", "")
        given, family = given.strip() or None, family.strip() or None
    if not given and not family:
        raise _RowError("no name: given and family name are both empty", external_id)

    dob_text = _cell(row, mapping, "date_of_birth")
    dob = _parse_date(dob_text, mapping.date_format, today, external_id) if dob_text else None

    email = _cell(row, mapping, "email")
    if email is not None:
        email = normalise(email)
        if "@" not in email or len(email) > 320:
            raise _RowError(f"email {email!r} is not an address", external_id)
    upn = _cell(row, mapping, "upn")
    sam = _cell(row, mapping, "sam")
    logins = import_logins(sam, upn, email)
    if mapping.upn_prefix_is_username and upn and "@" in upn and not sam:
        prefix = normalise(upn).split("@", 1)[0]
        if prefix and prefix not in {lg for lg, _ in logins}:
            logins = (*logins, (prefix, "sam"))

    groups: tuple[str, ...] | None = None
    if mapping.columns.get("groups"):
        names: set[str] = set()
        for header in mapping.headers_for("groups"):
            for raw in (row.cells.get(header) or "").replace("|", ";").split(";"):
                raw = raw.strip()
                if not raw:
                    continue
                if raw in mapping.group_values:
                    names.add(normalise_group(mapping.group_values[raw]))
                else:
                    names.update(split_groups(raw))
        groups = tuple(sorted(names))

    status = (_cell(row, mapping, "status") or "").strip().lower()
    active = status not in mapping.inactive_values if status else True

    person = PersonRow(
        line=row.line,
        external_id=external_id,
        role=_role(row, mapping, external_id),
        given_name=given,
        family_name=family,
        preferred_name=_cell(row, mapping, "preferred_name"),
        date_of_birth=dob,
        course=_cell(row, mapping, "course"),
        year_group=_cell(row, mapping, "year_group"),
        tutor_group=_cell(row, mapping, "tutor_group"),
        site=_cell(row, mapping, "site"),
        email=email,
        logins=logins,
        groups=groups,
    )
    return person, active


def _role(row: CsvRow, mapping: ColumnMapping, external_id: str) -> Role | None:
    """The role the row states (a role column or a matching rule); None: the row does not say,
    and the person keeps their role (a new person gets the mapping's default_role)."""
    stated = _cell(row, mapping, "role")
    if stated is not None:
        role = stated.strip().lower()
        if role not in ROLES:
            raise _RowError(f"role {stated!r} is not one of {', '.join(ROLES)}", external_id)
        return role  # type: ignore[return-value]
    for rule in mapping.role_rules:
        value = row.cells.get(normalise_header(rule.column))
        if value is not None and rule.matches(value):
            return rule.role
    return None


def _parse_date(text: str, fmt: str | None, today: date, external_id: str) -> date:
    text = text.strip()
    if "T" in text or (" " in text and ":" in text):
        text = text.replace("T", " ").split(" ", 1)[0]  # a datetime export: keep the date
    parsed: date | None = None
    for candidate in (fmt,) if fmt else DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, candidate).date()
            break
        except ValueError:
            continue
    if parsed is None:
        expected = fmt or "DD/MM/YYYY or YYYY-MM-DD"
        raise _RowError(f"date of birth {text!r} is not a date (expected {expected})", external_id)
    if parsed > today:
        raise _RowError(f"date of birth {text!r} is in the future", external_id)
    if today.year - parsed.year > MAX_AGE_YEARS:
        raise _RowError(
            f"date of birth {text!r} is more than {MAX_AGE_YEARS} years ago", external_id
        )
    return parsed
