"""People as the directory knows them: roles, the import row, the stored record, and age bands."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Role = Literal["student", "staff", "guest"]
ROLES: tuple[Role, ...] = ("student", "staff", "guest")

AgeBand = Literal["under_16", "16_17", "18_plus", "unknown"]
AGE_BANDS: tuple[AgeBand, ...] = ("under_16", "16_17", "18_plus", "unknown")

# A birthday is a calendar date where the college is: an event at 00:30 BST on someone's 18th
# birthday is 23:30 UTC the day before, and they are already 18.
COLLEGE_TZ = ZoneInfo("Europe/London")

# Fields an import may set on a person; None in a PersonRow means "this source does not say".
PERSON_FIELDS = (
    "role",
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "course",
    "year_group",
    "tutor_group",
    "site",
    "email",
)


def age_on(date_of_birth: date, day: date) -> int:
    """Whole years between a date of birth and a day (29 February birthdays count on 1 March)."""
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def age_band(date_of_birth: date | None, at: datetime) -> AgeBand:
    """The age band at the moment `at` (timezone-aware), on the college's calendar."""
    if date_of_birth is None:
        return "unknown"
    age = age_on(date_of_birth, at.astimezone(COLLEGE_TZ).date())
    if age < 16:
        return "under_16"
    if age < 18:
        return "16_17"
    return "18_plus"


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One usable row of an export, already mapped to directory fields.

    `line` is the line the row starts on in the file, for reports. Logins are lower-cased forms
    (see collector.directory.logins); groups are group names this source puts the person in.
    """

    line: int
    external_id: str
    role: Role | None = None
    given_name: str | None = None
    family_name: str | None = None
    preferred_name: str | None = None
    date_of_birth: date | None = None
    course: str | None = None
    year_group: str | None = None
    tutor_group: str | None = None
    site: str | None = None
    email: str | None = None
    logins: tuple[tuple[str, str], ...] = ()  # (login, kind)
    groups: tuple[str, ...] | None = None  # None: this source does not set groups


@dataclass(frozen=True, slots=True)
class Person:
    """A person as stored. Personal data: only dsl-facing code shows it (see docs/directory.md)."""

    id: int
    external_id: str
    role: Role
    given_name: str
    family_name: str
    preferred_name: str
    date_of_birth: date | None
    course: str
    year_group: str
    tutor_group: str
    site: str
    email: str
    status: Literal["active", "left"]
    left_at: datetime | None
    created_at: datetime
    updated_at: datetime
    logins: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        first = self.preferred_name or self.given_name
        return " ".join(p for p in (first, self.family_name) if p) or self.external_id


@dataclass(frozen=True, slots=True)
class Unusable:
    """A row an import could not use, with the line it starts on and why."""

    line: int
    reason: str
    external_id: str = ""


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, for a dry run, would do). Lists hold external ids."""

    source: str
    filename: str = ""
    rows: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    left: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)  # marked left before, listed again now
    unusable: list[Unusable] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)  # rows the export marks inactive
    dry_run: bool = False
    refused: str = ""  # non-empty: nothing was written, and why
    import_id: int | None = None

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "left": len(self.left),
            "returned": len(self.returned),
            "unusable": len(self.unusable),
            "inactive": len(self.inactive),
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "filename": self.filename,
            "dry_run": self.dry_run,
            "refused": self.refused,
            "import_id": self.import_id,
            "summary": self.summary(),
            "added": self.added,
            "changed": self.changed,
            "left": self.left,
            "returned": self.returned,
            "inactive": self.inactive,
            "unusable": [
                {"line": u.line, "reason": u.reason, "external_id": u.external_id}
                for u in self.unusable
            ],
        }
