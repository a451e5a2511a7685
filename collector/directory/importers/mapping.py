"""Column mappings: which header of an export holds which directory field, per export format.

Every format has defaults that fit the exports colleges actually have (docs/directory.md shows
each shape, docs/examples/directory/ has made-up files). A college overrides any of it with a
small YAML file or dict::

    format: mis
    columns:
      external_id: "Learner Ref"            # one header, or a list tried in order
      groups: ["Programme Type"]            # every listed column adds groups
    group_values: {"Adult Learner": adult_learners, "Apprenticeship": apprentices}
    date_format: "%d/%m/%Y"
    default_role: student                   # for people this import creates
    role_rules:
      - {column: "User type", equals: "Guest", role: guest}
      - {column: "Org Unit Path", prefix: "/Students", role: student}

Headers are compared after normalisation: lower case, letters and digits only, anything in
square brackets dropped, so "Email Address [Required]", "email_address" and "EmailAddress" match.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from collector.directory.people import ROLES, Role

Format = Literal["mis", "entra", "google", "plain"]
FORMATS: tuple[Format, ...] = ("mis", "entra", "google", "plain")
# The CLI spells the plain format "csv".
FORMAT_ALIASES = {"csv": "plain"}

# Directory fields a column can feed. full_name is used when given/family names are missing;
# sam/upn become logins; status decides whether the row is current (see inactive_values).
FIELDS = (
    "external_id",
    "role",
    "given_name",
    "family_name",
    "preferred_name",
    "full_name",
    "date_of_birth",
    "course",
    "year_group",
    "tutor_group",
    "site",
    "email",
    "sam",
    "upn",
    "groups",
    "status",
)

_BRACKETS = re.compile(r"\[[^\]]*\]")
_NON_ALNUM = re.compile(r"[^0-9a-z]")


def normalise_header(header: str) -> str:
    return _NON_ALNUM.sub("", _BRACKETS.sub("", header).lower())


class MappingError(ValueError):
    """A mapping file that cannot be used."""


@dataclass(frozen=True, slots=True)
class RoleRule:
    column: str
    role: Role
    equals: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    contains: str | None = None

    def matches(self, value: str) -> bool:
        v = value.strip().lower()
        if self.equals is not None and v != self.equals.lower():
            return False
        if self.prefix is not None and not v.startswith(self.prefix.lower()):
            return False
        if self.suffix is not None and not v.endswith(self.suffix.lower()):
            return False
        return self.contains is None or self.contains.lower() in v


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    format: Format
    columns: Mapping[str, tuple[str, ...]]
    default_role: Role
    role_rules: tuple[RoleRule, ...] = ()
    date_format: str | None = None  # None: try the UK and ISO forms in DATE_FORMATS
    group_values: Mapping[str, str] = field(default_factory=dict)
    inactive_values: tuple[str, ...] = (
        "false",
        "no",
        "suspended",
        "disabled",
        "withdrawn",
        "left",
        "inactive",
        "archived",
    )
    # Entra/Google: the part of the UPN before @ is usually the Windows user name too.
    upn_prefix_is_username: bool = False
    # The name this import is tracked under for "left" (default: the format). Two exports of
    # one format (students and staff from the MIS) need two sources, or each "leaves" the other.
    source: str = ""

    @property
    def source_name(self) -> str:
        return self.source or self.format

    def headers_for(self, name: str) -> tuple[str, ...]:
        return tuple(normalise_header(h) for h in self.columns.get(name, ()))


def _cols(**fields: str | tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else v for k, v in fields.items()}


DEFAULTS: dict[Format, ColumnMapping] = {
    # Management information systems (ProSolution, UNIT-e, ebs, SIMS, Arbor, Bromcom) name the
    # same things differently; these are the names their standard reports use.
    "mis": ColumnMapping(
        format="mis",
        default_role="student",
        columns=_cols(
            external_id=(
                "Student ID",
                "Student Ref",
                "Student Reference",
                "Learner Ref",
                "Learner Reference",
                "Learner ID",
                "Person Code",
                "Admission Number",
                "Adno",
            ),
            given_name=("Legal Forename", "Forename", "First Name", "Given Name"),
            preferred_name=("Preferred Forename", "Preferred Name", "Known As"),
            family_name=("Legal Surname", "Surname", "Last Name", "Family Name"),
            date_of_birth=("Date of Birth", "DOB", "Birth Date"),
            course=(
                "Course",
                "Course Title",
                "Course Name",
                "Programme",
                "Programme Title",
                "Main Aim",
                "Course Code",
            ),
            year_group=("Year", "Year Group", "NC Year", "Year of Study"),
            tutor_group=("Tutor Group", "Reg Group", "Registration Group", "Form"),
            site=("Site", "Campus", "Centre"),
            email=("College Email", "Student Email", "Email", "Email Address"),
            sam=("Network Username", "Network Login", "Username", "AD Username", "Login"),
            groups=("Groups",),
            status=("Enrolment Status", "Status"),
        ),
    ),
    # Entra admin centre "Download users" (both the older spaced headers and the Graph names),
    # plus onPremisesSamAccountName from a Get-MgUser export when the college adds it.
    "entra": ColumnMapping(
        format="entra",
        default_role="staff",
        upn_prefix_is_username=True,
        columns=_cols(
            external_id=("employeeId", "Employee ID", "objectId", "Object ID", "id"),
            given_name=("givenName", "Given name", "First name"),
            family_name=("surname", "Last name"),
            full_name=("displayName", "Display name"),
            email=("mail", "Email"),
            upn=("userPrincipalName", "User principal name"),
            sam=("onPremisesSamAccountName", "sAMAccountName", "SamAccountName"),
            site=("officeLocation", "Office location", "Office"),
            groups=("Groups",),
            status=("accountEnabled", "Account enabled"),
        ),
        role_rules=(
            RoleRule(column="userType", equals="guest", role="guest"),
            RoleRule(column="User type", equals="guest", role="guest"),
            RoleRule(column="jobTitle", contains="student", role="student"),
            RoleRule(column="Job title", contains="student", role="student"),
        ),
    ),
    # Google Admin console "Download users" (the bulk-update CSV).
    "google": ColumnMapping(
        format="google",
        default_role="staff",
        upn_prefix_is_username=True,
        columns=_cols(
            external_id=("Employee ID", "Email Address"),
            given_name=("First Name",),
            family_name=("Last Name",),
            email=("Email Address",),
            upn=("Email Address",),
            site=("Building ID",),
            groups=("Groups",),
            status=("Status",),
        ),
        role_rules=(
            RoleRule(column="Org Unit Path", prefix="/students", role="student"),
            RoleRule(column="Org Unit Path", prefix="/staff", role="staff"),
            RoleRule(column="Org Unit Path", prefix="/guests", role="guest"),
            RoleRule(column="Employee Type", equals="student", role="student"),
        ),
    ),
    # The plain format: headers are the field names (docs/directory.md, "Plain CSV").
    "plain": ColumnMapping(
        format="plain",
        default_role="student",
        columns=_cols(
            external_id="external_id",
            role="role",
            given_name="given_name",
            family_name="family_name",
            preferred_name="preferred_name",
            date_of_birth="date_of_birth",
            course="course",
            year_group="year_group",
            tutor_group="tutor_group",
            site="site",
            email="email",
            sam=("username", "sam"),
            upn="upn",
            groups="groups",
        ),
    ),
}


def canonical_format(name: str) -> Format:
    fmt = FORMAT_ALIASES.get(name, name)
    if fmt not in FORMATS:
        raise MappingError(f"unknown format {name!r}: use one of {', '.join(FORMATS)} (or csv)")
    return fmt  # type: ignore[return-value]


def load_mapping(
    fmt: str, overrides: Mapping[str, Any] | str | Path | None = None
) -> ColumnMapping:
    """The default mapping for a format with a college's overrides (a dict, or a YAML file)."""
    if isinstance(overrides, (str, Path)):
        loaded = yaml.safe_load(Path(overrides).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise MappingError(f"{overrides}: a mapping file holds a YAML mapping")
        overrides = loaded
    data = dict(overrides or {})
    mapping = DEFAULTS[canonical_format(str(data.pop("format", fmt)))]
    columns = dict(mapping.columns)
    for name, headers in dict(data.pop("columns", None) or {}).items():
        if name not in FIELDS:
            raise MappingError(f"unknown field {name!r} in columns: use {', '.join(FIELDS)}")
        columns[name] = (headers,) if isinstance(headers, str) else tuple(headers or ())
    changes: dict[str, Any] = {"columns": columns}
    if "default_role" in data:
        changes["default_role"] = _role(data.pop("default_role"))
    if "role_rules" in data:
        changes["role_rules"] = tuple(_rule(r) for r in data.pop("role_rules") or ())
    if "date_format" in data:
        changes["date_format"] = data.pop("date_format")
    if "group_values" in data:
        changes["group_values"] = {
            str(k): str(v) for k, v in dict(data.pop("group_values")).items()
        }
    if "inactive_values" in data:
        changes["inactive_values"] = tuple(str(v).lower() for v in data.pop("inactive_values"))
    if "upn_prefix_is_username" in data:
        changes["upn_prefix_is_username"] = bool(data.pop("upn_prefix_is_username"))
    if "source" in data:
        source = str(data.pop("source"))
        if not 0 < len(source) <= 16:
            raise MappingError("source must be 1-16 characters")
        changes["source"] = source
    if data:
        raise MappingError(f"unknown mapping settings: {', '.join(sorted(data))}")
    return replace(mapping, **changes)


def _role(value: Any) -> Role:
    if value not in ROLES:
        raise MappingError(f"role must be one of {', '.join(ROLES)}, not {value!r}")
    return value  # type: ignore[no-any-return]


def _rule(data: Any) -> RoleRule:
    if not isinstance(data, dict) or "column" not in data or "role" not in data:
        raise MappingError("each role rule needs a column and a role")
    tests = {k: data.get(k) for k in ("equals", "prefix", "suffix", "contains")}
    extra = set(data) - {"column", "role", *tests}
    if extra:
        raise MappingError(f"unknown role rule keys: {', '.join(sorted(extra))}")
    return RoleRule(column=str(data["column"]), role=_role(data["role"]), **tests)
