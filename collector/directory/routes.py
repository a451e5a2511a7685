"""REST for the directory: /api/v1/people (dsl; imports and login mapping for IT) and /api/v1/groups.

Who may call what (the REST layer is where roles are enforced):

| route                                   | dsl | it_admin | trustee |
|-----------------------------------------|-----|----------|---------|
| GET people, person, flags, known cases  | yes | -        | -       |
| POST/clear flags                        | yes | -        | -       |
| POST people/import, groups/inventory    | -   | yes      | -       |
| logins, special logins, unresolved      | yes | yes      | -       |
| GET groups, policies, device policy     | yes | yes      | -       |
| PUT/DELETE policies, group members      | -   | yes      | -       |

IT staff never get names, dates of birth or flags from these routes: import reports and login
mapping speak in external ids and line numbers.
"""

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from collector.clock import utcnow
from collector.directory.importers import (
    ExportError,
    MappingError,
    import_inventory,
    import_people,
)
from collector.directory.people import ImportReport, Person, age_band
from collector.directory.policies import (
    GroupPolicy,
    PolicyError,
    spec_from_mapping,
    spec_to_mapping,
)
from collector.directory.store import (
    DirectoryError,
    DirectoryStore,
    Flag,
    PersonNotFound,
)
from collector.directory.subject import Subject
from collector.store.interface import UserRecord
from collector.web.deps import FleetUser, SafeguardingUser, require_role
from lantern.v1 import lantern_pb2 as pb

ITAdmin = Annotated[UserRecord, Depends(require_role("it_admin"))]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# 422 by number: Starlette renamed the constant (UNPROCESSABLE_ENTITY -> _CONTENT).
UNPROCESSABLE = 422


def get_directory(request: Request) -> DirectoryStore:
    """The app's DirectoryStore (app.state.directory), made from app.state.store on first use."""
    directory: DirectoryStore | None = getattr(request.app.state, "directory", None)
    if directory is None:
        directory = DirectoryStore.for_store(request.app.state.store)
        request.app.state.directory = directory
    return directory


DirectoryDep = Annotated[DirectoryStore, Depends(get_directory)]

people_router = APIRouter(prefix="/api/v1/people", tags=["people"])
groups_router = APIRouter(prefix="/api/v1/groups", tags=["groups"])
router = APIRouter()


# ---------------------------------------------------------------------------------- models
class PersonOut(BaseModel):
    id: int
    external_id: str
    display_name: str
    given_name: str
    family_name: str
    preferred_name: str
    role: str
    date_of_birth: date | None
    age_band: str  # today
    course: str
    year_group: str
    tutor_group: str
    site: str
    email: str
    status: str
    left_at: datetime | None
    logins: list[str]
    groups: list[str]
    sources: list[str]

    @classmethod
    def of(cls, p: Person) -> "PersonOut":
        return cls(
            id=p.id,
            external_id=p.external_id,
            display_name=p.display_name,
            given_name=p.given_name,
            family_name=p.family_name,
            preferred_name=p.preferred_name,
            role=p.role,
            date_of_birth=p.date_of_birth,
            age_band=age_band(p.date_of_birth, utcnow()),
            course=p.course,
            year_group=p.year_group,
            tutor_group=p.tutor_group,
            site=p.site,
            email=p.email,
            status=p.status,
            left_at=p.left_at,
            logins=list(p.logins),
            groups=list(p.groups),
            sources=list(p.sources),
        )


class SubjectOut(BaseModel):
    """Who an alert is about, for dsl views (GET /api/v1/alerts embeds it as `subject`)."""

    kind: str  # person | guest | shared | unknown
    os_user: str
    person_id: int | None
    external_id: str
    display_name: str
    role: str
    age_band: str  # at the time of the alert
    course: str
    year_group: str
    tutor_group: str
    site: str
    groups: list[str]
    known_case: bool
    left: bool
    label: str  # guest/shared login label
    reason: str  # unknown: no_match | ambiguous | empty

    @classmethod
    def of(cls, s: Subject) -> "SubjectOut":
        return cls.model_validate(s, from_attributes=True)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    person_id: int | None
    detail: dict[str, Any]


class FlagOut(BaseModel):
    id: int
    person_id: int
    kind: str
    reason: str
    set_by: str
    set_at: datetime
    cleared_by: str | None
    cleared_at: datetime | None
    clear_reason: str | None
    open: bool

    @classmethod
    def of(cls, f: Flag) -> "FlagOut":
        return cls.model_validate(f, from_attributes=True)


class KnownCase(BaseModel):
    person: PersonOut
    flag: FlagOut


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class LoginMapping(BaseModel):
    external_id: str
    login: str = Field(min_length=1, max_length=320)


class SpecialLoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=320, description="a login or a glob, e.g. exam*")
    kind: Literal["guest", "shared"]
    label: str = Field("", max_length=255)


class SpecialLoginOut(BaseModel):
    login: str
    kind: str
    label: str


class SightingOut(BaseModel):
    os_user: str
    kind: str
    reason: str
    label: str
    device_id: str
    hostname: str
    first_seen: datetime
    last_seen: datetime
    events: int


class Member(BaseModel):
    external_id: str


class PolicyOut(BaseModel):
    group_name: str
    version: int
    changed_by: str
    changed_at: datetime
    deleted: bool
    settings: dict[str, Any]

    @classmethod
    def of(cls, p: GroupPolicy) -> "PolicyOut":
        return cls(
            group_name=p.group_name,
            version=p.version,
            changed_by=p.changed_by,
            changed_at=p.changed_at,
            deleted=p.deleted,
            settings=spec_to_mapping(p.spec),
        )


class GroupOut(BaseModel):
    name: str
    people: int
    devices: int
    policy_version: int | None


class DevicePolicyOut(BaseModel):
    device_id: str
    version: int
    notice_text: str
    excluded_apps: list[str]
    categories: list[str] | None
    capture_typed: bool
    capture_titles: bool
    heartbeat_seconds: int
    min_severity: dict[str, int]
    applied: list[dict[str, Any]]


# ---------------------------------------------------------------------------------- people
@people_router.get("", response_model=list[PersonOut])
def list_people(
    directory: DirectoryDep,
    _user: SafeguardingUser,
    q: str | None = Query(None, description="name, id, email or login (substring)"),
    role: Literal["student", "staff", "guest"] | None = None,
    status_: Literal["active", "left", "all"] = Query("active", alias="status"),
    group: str | None = None,
    site: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[PersonOut]:
    """People in the directory (safeguarding staff only)."""
    found = directory.find_people(
        q,
        role=role,
        status=None if status_ == "all" else status_,
        group=group,
        site=site,
        limit=limit,
        offset=offset,
    )
    return [PersonOut.of(p) for p in found]


@people_router.get("/known-cases", response_model=list[KnownCase])
def known_cases(directory: DirectoryDep, _user: SafeguardingUser) -> list[KnownCase]:
    """People with an open known-case flag."""
    return [
        KnownCase(person=PersonOut.of(p), flag=FlagOut.of(f)) for p, f in directory.known_cases()
    ]


@people_router.post("/import")
async def import_people_file(
    directory: DirectoryDep,
    user: ITAdmin,
    file: Annotated[UploadFile, File(description="the export (CSV)")],
    format: Literal["mis", "entra", "google", "plain", "csv"] = Query(...),
    mapping: Annotated[UploadFile | None, File(description="column mapping (YAML)")] = None,
    dry_run: bool = False,
    allow_mass_leave: bool = False,
) -> dict[str, object]:
    """Import a people export; returns the report (added, changed, left, unusable rows)."""
    data = await _read(file)
    overrides = _yaml(await _read(mapping)) if mapping is not None else None
    try:
        report = await run_people_import(
            directory,
            data,
            format,
            file.filename or "",
            user.email,
            overrides,
            dry_run=dry_run,
            allow_mass_leave=allow_mass_leave,
        )
    except (ExportError, MappingError) as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from None
    if report.refused:
        raise HTTPException(status.HTTP_409_CONFLICT, report.as_dict())
    return report.as_dict()


@people_router.get("/unresolved-logins", response_model=list[SightingOut])
def unresolved_logins(
    directory: DirectoryDep,
    _user: FleetUser,
    since_hours: int = Query(168, ge=1, le=24 * 90),
) -> list[SightingOut]:
    """OS users seen on devices that are not one known person (unknown, ambiguous, guest,
    shared), with device and first/last seen: map them or declare them."""
    since = utcnow() - timedelta(hours=since_hours)
    return [
        SightingOut.model_validate(s, from_attributes=True)
        for s in directory.unresolved_logins(since)
    ]


@people_router.post("/logins", status_code=status.HTTP_204_NO_CONTENT)
def add_login(body: LoginMapping, directory: DirectoryDep, user: FleetUser) -> None:
    """Map one more login (a local account, a renamed profile) to a person by their id."""
    person = _by_external(directory, body.external_id)
    _run(lambda: directory.add_login(person.id, body.login, actor=user.email))


@people_router.delete("/logins", status_code=status.HTTP_204_NO_CONTENT)
def remove_login(body: LoginMapping, directory: DirectoryDep, user: FleetUser) -> None:
    person = _by_external(directory, body.external_id)
    directory.remove_login(person.id, body.login, actor=user.email)


@people_router.get("/special-logins", response_model=list[SpecialLoginOut])
def list_special_logins(directory: DirectoryDep, _user: FleetUser) -> list[SpecialLoginOut]:
    return [
        SpecialLoginOut(login=s.login, kind=s.kind, label=s.label)
        for s in directory.list_special_logins()
    ]


@people_router.put("/special-logins", response_model=SpecialLoginOut)
def set_special_login(
    body: SpecialLoginIn, directory: DirectoryDep, user: ITAdmin
) -> SpecialLoginOut:
    """Declare a guest or shared login (or a glob such as exam*)."""
    s = _run(
        lambda: directory.set_special_login(body.login, body.kind, body.label, actor=user.email)
    )
    return SpecialLoginOut(login=s.login, kind=s.kind, label=s.label)


@people_router.delete("/special-logins/{login}", status_code=status.HTTP_204_NO_CONTENT)
def remove_special_login(login: str, directory: DirectoryDep, user: ITAdmin) -> None:
    directory.remove_special_login(login, actor=user.email)


@people_router.post("/flags/{flag_id}/clear", response_model=FlagOut)
def clear_flag(
    flag_id: int, body: Reason, directory: DirectoryDep, user: SafeguardingUser
) -> FlagOut:
    """Clear a flag (the case is closed); the flag and who cleared it are kept."""
    return FlagOut.of(_run(lambda: directory.clear_flag(flag_id, body.reason, actor=user.email)))


@people_router.get("/{person_id}", response_model=PersonOut)
def get_person(person_id: int, directory: DirectoryDep, _user: SafeguardingUser) -> PersonOut:
    return PersonOut.of(_run(lambda: directory.get_person(person_id)))


@people_router.get("/{person_id}/audit", response_model=list[AuditOut])
def person_audit(
    person_id: int,
    directory: DirectoryDep,
    _user: SafeguardingUser,
    limit: int = Query(100, ge=1, le=1000),
) -> list[AuditOut]:
    """Every recorded change to a person, their logins, groups and flags (newest first)."""
    return [
        AuditOut.model_validate(a, from_attributes=True)
        for a in directory.audit_log(person_id, limit)
    ]


@people_router.get("/{person_id}/flags", response_model=list[FlagOut])
def person_flags(person_id: int, directory: DirectoryDep, _user: SafeguardingUser) -> list[FlagOut]:
    _run(lambda: directory.get_person(person_id))
    return [FlagOut.of(f) for f in directory.flags_for_person(person_id)]


@people_router.post(
    "/{person_id}/flags", response_model=FlagOut, status_code=status.HTTP_201_CREATED
)
def flag_person(
    person_id: int, body: Reason, directory: DirectoryDep, user: SafeguardingUser
) -> FlagOut:
    """Mark a person as already known to safeguarding (an open case): their alerts rank higher."""
    return FlagOut.of(
        _run(lambda: directory.flag_known_case(person_id, body.reason, actor=user.email))
    )


# ---------------------------------------------------------------------------------- groups
@groups_router.get("", response_model=list[GroupOut])
def list_groups(directory: DirectoryDep, _user: FleetUser) -> list[GroupOut]:
    """Groups with member and device counts and their policy version (no names)."""
    return [GroupOut.model_validate(g, from_attributes=True) for g in directory.list_groups()]


@groups_router.post("/inventory")
async def import_device_inventory(
    directory: DirectoryDep,
    user: ITAdmin,
    file: Annotated[UploadFile, File(description="the MDM device export (CSV)")],
    dry_run: bool = False,
) -> dict[str, object]:
    """Replace the device inventory (serial/hostname -> site, group) from an MDM export."""
    from fastapi.concurrency import run_in_threadpool

    data = await _read(file)
    try:
        report = await run_in_threadpool(
            import_inventory,
            directory,
            data,
            None,
            filename=file.filename or "",
            actor=user.email,
            dry_run=dry_run,
        )
    except (ExportError, MappingError) as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from None
    return report.as_dict()


@groups_router.get("/devices/{device_id}/policy", response_model=DevicePolicyOut)
def device_policy(
    device_id: str,
    request: Request,
    directory: DirectoryDep,
    _user: FleetUser,
    os_user: str | None = Query(None, description="as if this user were signed in"),
) -> DevicePolicyOut:
    """The policy a device gets now, and which group policies made it."""
    p = directory.policy_for_device(device_id, _base_policy(request), os_user=os_user)
    return DevicePolicyOut(
        device_id=device_id,
        version=p.version,
        notice_text=p.notice_text,
        excluded_apps=list(p.excluded_apps),
        categories=None if p.categories is None else list(p.categories),
        capture_typed=p.capture_typed,
        capture_titles=p.capture_titles,
        heartbeat_seconds=p.heartbeat_seconds,
        min_severity=dict(p.min_severity),
        applied=[
            {"group": a.group_name, "version": a.version, "source": a.source} for a in p.applied
        ],
    )


@groups_router.get("/{name}/policy", response_model=PolicyOut)
def get_policy(name: str, directory: DirectoryDep, _user: FleetUser) -> PolicyOut:
    policy = directory.current_policy(name)
    if policy is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"group {name!r} has no policy")
    return PolicyOut.of(policy)


@groups_router.put("/{name}/policy", response_model=PolicyOut)
def put_policy(
    name: str, body: dict[str, Any], directory: DirectoryDep, user: ITAdmin
) -> PolicyOut:
    """Store a new version of a group's policy. Settings left out are inherited (see docs)."""
    try:
        spec = spec_from_mapping(body)
    except (PolicyError, TypeError, ValueError) as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from None
    return PolicyOut.of(_run(lambda: directory.put_policy(name, spec, actor=user.email)))


@groups_router.delete("/{name}/policy", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, directory: DirectoryDep, user: ITAdmin) -> None:
    _run(lambda: directory.delete_policy(name, actor=user.email))


@groups_router.get("/{name}/policy/history", response_model=list[PolicyOut])
def policy_history(name: str, directory: DirectoryDep, _user: FleetUser) -> list[PolicyOut]:
    return [PolicyOut.of(p) for p in directory.policy_history(name)]


@groups_router.post("/{name}/members", status_code=status.HTTP_204_NO_CONTENT)
def add_member(name: str, body: Member, directory: DirectoryDep, user: ITAdmin) -> None:
    """Put a person (by their id in the exports) in a group by hand."""
    person = _by_external(directory, body.external_id)
    _run(lambda: directory.add_to_group(person.id, name, actor=user.email))


@groups_router.delete("/{name}/members/{external_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(name: str, external_id: str, directory: DirectoryDep, user: ITAdmin) -> None:
    person = _by_external(directory, external_id)
    directory.remove_from_group(person.id, name, actor=user.email)


router.include_router(people_router)
router.include_router(groups_router)


# ---------------------------------------------------------------------------------- helpers
def _run(fn: Any) -> Any:
    try:
        return fn()
    except PersonNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (DirectoryError, PolicyError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _by_external(directory: DirectoryStore, external_id: str) -> Person:
    person: Person = _run(lambda: directory.person_by_external_id(external_id))
    return person


async def run_people_import(
    directory: DirectoryStore,
    data: bytes,
    fmt: str,
    filename: str,
    actor: str,
    mapping: dict[str, Any] | None = None,
    *,
    dry_run: bool = False,
    allow_mass_leave: bool = False,
) -> ImportReport:
    """`import_people` off the event loop (the REST route and the console page)."""
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(
        import_people,
        directory,
        data,
        fmt,
        mapping,
        filename=filename,
        actor=actor,
        dry_run=dry_run,
        allow_mass_leave=allow_mass_leave,
    )


async def _read(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "the file is larger than 50 MB"
        )
    return data


def _yaml(data: bytes) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(data.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HTTPException(UNPROCESSABLE, f"mapping: {exc}") from None
    if not isinstance(loaded, dict):
        raise HTTPException(422, "mapping: expected a YAML mapping")
    return loaded


def _base_policy(request: Request) -> pb.Policy:
    """The collector's default policy (app.state.base_policy when the app sets it)."""
    base: pb.Policy | None = getattr(request.app.state, "base_policy", None)
    if base is None:
        from collector.ingest.policies import default_policy
        from collector.settings import Settings

        base = default_policy(Settings())
    return base
