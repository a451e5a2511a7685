"""DirectoryStore: the directory's repository over the collector's SQLAlchemy engine.

It shares the engine (and on SQLite the write lock) with `SqlStore`, so the schema is one
database and one migration history. `resolve`, `device_facts` and `policy_for_device` only read:
triggers may call them inside the ingest transaction. Every write to a person, login, group,
policy or flag leaves a row in the collector's hash-chained audit log (`collector/alerts/audit.py`;
ids and field names, never the values).

Every write that changes what `policy_for_device` reads (people, logins, groups, special logins,
inventory, group policies) also bumps the policy generation in the same transaction, so ingest
processes refresh their cached policies (`collector/store/policy_generation.py`).
"""

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from collector.clock import utcnow
from collector.coverage import ExpectedDevice
from collector.directory import models as dm
from collector.directory.groups import DeviceFacts, GroupSummary, normalise_group
from collector.directory.importers.inventory import ParsedInventory
from collector.directory.importers.people import ParsedExport
from collector.directory.logins import (
    BUILTIN_GUEST_LOGINS,
    SPECIAL_KINDS,
    lookup_keys,
    matches_pattern,
    normalise,
)
from collector.directory.people import (
    PERSON_FIELDS,
    ImportReport,
    Person,
    PersonRow,
    Role,
    Unusable,
    age_band,
)
from collector.directory.policies import (
    EffectivePolicy,
    GroupPolicy,
    GroupSource,
    PolicySpec,
    from_proto,
    resolve_policy,
    spec_from_mapping,
    spec_to_mapping,
)
from collector.directory.subject import Subject
from collector.store import models as sm
from collector.store import policy_generation
from lantern.v1 import lantern_pb2 as pb

# An export that would mark more than this share of a source's people as left is refused unless
# the caller says so: a truncated or wrong file must not "leave" the whole college.
MAX_LEFT_FRACTION = 0.5
MASS_LEAVE_MIN_PEOPLE = 20


class DirectoryError(Exception):
    """A directory operation that cannot be done as asked."""


class PersonNotFound(DirectoryError):
    pass


@dataclass(frozen=True, slots=True)
class Flag:
    """A DSL flag on a person. dsl-only: never return these to other roles."""

    id: int
    person_id: int
    kind: str
    reason: str
    set_by: str
    set_at: datetime
    cleared_by: str | None
    cleared_at: datetime | None
    clear_reason: str | None

    @property
    def open(self) -> bool:
        return self.cleared_at is None


@dataclass(frozen=True, slots=True)
class SpecialLogin:
    login: str
    kind: Literal["guest", "shared"]
    label: str


@dataclass(frozen=True, slots=True)
class LoginSighting:
    """An OS user seen on a device that is not (only) one person: for IT to map or confirm."""

    os_user: str
    kind: str  # unknown | guest | shared
    reason: str
    label: str
    device_id: str
    hostname: str
    first_seen: datetime
    last_seen: datetime
    events: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    person_id: int | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One import as the console lists it: counts only, never the rows."""

    id: int
    source: str
    filename: str
    actor: str
    at: datetime
    summary: dict[str, int]


FLAG_KINDS = ("known_case",)
# Directory actions in the audit chain are "directory.<action>" ("directory.person.purged").
AUDIT_PREFIX = "directory."


class DirectoryStore:
    def __init__(self, engine: Engine, write_lock: "threading.Lock | None" = None) -> None:
        self.engine = engine
        # SQLite has one writer: share SqlStore's lock when there is one (see for_store).
        if write_lock is None and engine.dialect.name == "sqlite":
            write_lock = threading.Lock()
        self._write_lock = write_lock

    @classmethod
    def for_store(cls, store: Any) -> "DirectoryStore":
        """The directory over an open `SqlStore` (same engine, same SQLite write lock)."""
        return cls(store.engine, getattr(store, "_write_lock", None))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    @contextmanager
    def _tx(self, dry_run: bool) -> Iterator[Connection]:
        """A write transaction that is rolled back for a dry run (same code path, no change)."""
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    yield conn
                except BaseException:
                    trans.rollback()
                    raise
                if dry_run:
                    trans.rollback()
                else:
                    trans.commit()
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    def _audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        person_id: int | None,
        now: datetime,
        **detail: Any,
    ) -> None:
        self._audit_rows(
            conn,
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": action,
                    "person_id": person_id,
                    "detail": detail,
                }
            ],
        )

    def _audit_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Into the collector's hash-chained audit log, in the caller's transaction: one audit
        trail for everything (docs/directory.md, "Privacy")."""
        from collector.alerts import audit  # import cycle: collector.store imports the alerts

        for r in rows:
            pid = r["person_id"]
            audit.append(
                conn,
                actor=r["actor"],
                action=f"{AUDIT_PREFIX}{r['action']}",
                object_type="person" if pid is not None else "directory",
                object_id=pid if pid is not None else "-",
                at=r["at"],
                detail=r["detail"],
            )

    # ------------------------------------------------------------------ people import
    def apply_people_import(
        self,
        source: str,
        parsed: ParsedExport,
        *,
        default_role: Role,
        filename: str = "",
        sha256: str = "",
        actor: str = "import",
        now: datetime | None = None,
        dry_run: bool = False,
        allow_mass_leave: bool = False,
    ) -> ImportReport:
        """Apply a parsed export from one source: add, change, mark left; never delete.

        Re-applying the same export changes nothing. People are matched by external id, else by
        any login the row gives (so an Entra export without employeeId links to the MIS person
        by username or email). A person is marked left when no source lists them any more.
        """
        now = now or utcnow()
        source = source[:16]
        report = ImportReport(
            source=source,
            filename=filename,
            rows=parsed.total,
            unusable=list(parsed.unusable),
            inactive=list(parsed.inactive),
            dry_run=dry_run,
        )
        try:
            self._apply_people(
                source,
                parsed,
                report,
                default_role,
                filename,
                sha256,
                actor,
                now,
                dry_run,
                allow_mass_leave,
            )
        except _Refused:
            report.import_id = None
        return report

    def _apply_people(
        self,
        source: str,
        parsed: ParsedExport,
        report: ImportReport,
        default_role: Role,
        filename: str,
        sha256: str,
        actor: str,
        now: datetime,
        dry_run: bool,
        allow_mass_leave: bool,
    ) -> None:
        p, lg, pg, ps = dm.people, dm.logins, dm.person_groups, dm.person_sources
        with self._tx(dry_run) as conn:
            import_id = conn.execute(
                insert(dm.directory_imports).values(
                    source=source,
                    filename=filename[:255],
                    sha256=sha256,
                    actor=actor,
                    at=now,
                    summary={},
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            people = {r["id"]: dict(r) for r in conn.execute(select(p)).mappings()}
            by_external = {r["external_id"]: pid for pid, r in people.items()}
            login_owners: dict[str, set[int]] = defaultdict(set)
            own_logins: dict[int, set[str]] = defaultdict(set)
            for r in conn.execute(select(lg.c.login, lg.c.person_id, lg.c.source)):
                login_owners[r.login].add(r.person_id)
                if r.source == source:
                    own_logins[r.person_id].add(r.login)
            own_groups: dict[int, set[str]] = defaultdict(set)
            all_groups: dict[int, set[str]] = defaultdict(set)
            for r in conn.execute(select(pg.c.person_id, pg.c.group_name, pg.c.source)):
                all_groups[r.person_id].add(r.group_name)
                if r.source == source:
                    own_groups[r.person_id].add(r.group_name)
            by_source_key: dict[str, int] = {
                key: person_id
                for person_id, key in conn.execute(
                    select(ps.c.person_id, ps.c.source_key).where(ps.c.source == source)
                )
            }
            listed_before = set(by_source_key.values())

            # Pass 1: match every row to a person, or mark it new.
            matched: dict[int, int] = {}  # person id -> line
            plan: list[tuple[PersonRow, int | None]] = []
            for row in parsed.rows:
                # This source's own key first, then the directory's id, then a login.
                pid = by_source_key.get(row.external_id) or by_external.get(row.external_id)
                if pid is None and row.logins:
                    # Link by login only to an active person this source does not list under
                    # another id: a recycled username must not turn a new student into a leaver.
                    owners = {
                        owner
                        for login, _ in row.logins
                        for owner in login_owners.get(login, set())
                        if people[owner]["status"] == "active" and owner not in listed_before
                    }
                    if len(owners) > 1:
                        report.unusable.append(
                            Unusable(
                                row.line,
                                "its logins belong to different people already in the directory",
                                row.external_id,
                            )
                        )
                        continue
                    pid = next(iter(owners), None)
                if pid is not None:
                    if pid in matched:
                        report.unusable.append(
                            Unusable(
                                row.line,
                                f"the same person as line {matched[pid]}",
                                row.external_id,
                            )
                        )
                        continue
                    matched[pid] = row.line
                plan.append((row, pid))

            # New people in one statement, then their ids by external id.
            fresh_rows = [row for row, pid in plan if pid is None]
            if fresh_rows:
                conn.execute(
                    insert(p),
                    [
                        {
                            **{f: _or_empty(getattr(row, f)) for f in PERSON_FIELDS},
                            "role": row.role or default_role,
                            "date_of_birth": row.date_of_birth,
                            "external_id": row.external_id,
                            "status": "active",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for row in fresh_rows
                    ],
                )
                for chunk in _chunks([row.external_id for row in fresh_rows]):
                    for m in conn.execute(select(p).where(p.c.external_id.in_(chunk))).mappings():
                        people[m["id"]] = dict(m)
                        by_external[m["external_id"]] = m["id"]

            # Pass 2: fields, logins and groups; inserts and audit rows batched.
            seen_ids: set[int] = set()
            source_keys: dict[int, str] = {}
            new_logins: list[dict[str, Any]] = []
            new_groups: list[dict[str, Any]] = []
            audits: list[dict[str, Any]] = []

            def audit(action: str, pid: int, **detail: Any) -> None:
                audits.append(
                    {
                        "at": now,
                        "actor": actor,
                        "action": action,
                        "person_id": pid,
                        "detail": {"source": source, "import_id": import_id, **detail},
                    }
                )

            for row, maybe_pid in plan:
                is_new = maybe_pid is None
                pid = by_external[row.external_id] if maybe_pid is None else maybe_pid
                current = people[pid]
                changed_fields: list[str] = []
                returned = False
                if is_new:
                    report.added.append(row.external_id)
                    audit("person.added", pid)
                else:
                    changes = {
                        f: getattr(row, f)
                        for f in PERSON_FIELDS
                        if getattr(row, f) is not None and getattr(row, f) != current[f]
                    }
                    changed_fields = sorted(changes)
                    if current["status"] == "left":
                        changes.update(status="active", left_at=None)
                        returned = True
                        report.returned.append(current["external_id"])
                        audit("person.returned", pid)
                    if changes:
                        conn.execute(
                            update(p).where(p.c.id == pid).values(updated_at=now, **changes)
                        )
                        current.update(changes)
                seen_ids.add(pid)
                source_keys[pid] = row.external_id

                # Logins this source gives: replace this source's set for the person.
                wanted = {login for login, _ in row.logins}
                kinds = dict(row.logins)
                stale = own_logins.get(pid, set()) - wanted
                if stale:
                    conn.execute(
                        delete(lg).where(
                            lg.c.person_id == pid, lg.c.source == source, lg.c.login.in_(stale)
                        )
                    )
                    changed_fields.append("logins")
                added_logins = [
                    login
                    for login in sorted(wanted - own_logins.get(pid, set()))
                    if pid not in login_owners.get(login, set())
                ]
                for login in added_logins:
                    new_logins.append(
                        {"person_id": pid, "login": login, "kind": kinds[login], "source": source}
                    )
                    login_owners[login].add(pid)
                if added_logins:
                    changed_fields.append("logins")

                if row.groups is not None:
                    wanted_groups = set(row.groups)
                    gone = own_groups.get(pid, set()) - wanted_groups
                    fresh = wanted_groups - all_groups.get(pid, set())
                    if gone:
                        conn.execute(
                            delete(pg).where(
                                pg.c.person_id == pid,
                                pg.c.source == source,
                                pg.c.group_name.in_(gone),
                            )
                        )
                    new_groups += [
                        {"person_id": pid, "group_name": g, "source": source} for g in sorted(fresh)
                    ]
                    if gone or fresh:
                        changed_fields.append("groups")

                if is_new:
                    continue
                if changed_fields:
                    report.changed.append(current["external_id"])
                    audit("person.changed", pid, fields=sorted(set(changed_fields)))
                elif not returned:
                    report.unchanged += 1

            if new_logins:
                conn.execute(insert(lg), new_logins)
            if new_groups:
                conn.execute(insert(pg), new_groups)
            if audits:
                self._audit_rows(conn, audits)

            # Rows the export has but could not use keep their person listed: a typo in one date
            # of birth must not mark a current student as left.
            protected = {
                pid
                for u in report.unusable
                if (pid := by_source_key.get(u.external_id) or by_external.get(u.external_id))
            }
            dropped = listed_before - seen_ids - protected
            if (
                not allow_mass_leave
                and len(listed_before) >= MASS_LEAVE_MIN_PEOPLE
                and len(dropped) > MAX_LEFT_FRACTION * len(listed_before)
            ):
                report.refused = (
                    f"this export would mark {len(dropped)} of {len(listed_before)} people from "
                    f"{source} as left; check the file, or import it with allow_mass_leave"
                )
                raise _Refused(report)
            for chunk in _chunks(sorted(seen_ids | dropped)):
                conn.execute(delete(ps).where(ps.c.source == source, ps.c.person_id.in_(chunk)))
            if seen_ids:
                conn.execute(
                    insert(ps),
                    [
                        {
                            "person_id": pid,
                            "source": source,
                            "source_key": source_keys[pid],
                            "import_id": import_id,
                            "seen_at": now,
                        }
                        for pid in sorted(seen_ids)
                    ],
                )
            still_listed: set[int] = set()
            for chunk in _chunks(sorted(dropped)):
                still_listed.update(
                    conn.execute(select(ps.c.person_id).where(ps.c.person_id.in_(chunk))).scalars()
                )
            leavers = [
                pid for pid in sorted(dropped - still_listed) if people[pid]["status"] != "left"
            ]
            for chunk in _chunks(leavers):
                conn.execute(
                    update(p)
                    .where(p.c.id.in_(chunk))
                    .values(status="left", left_at=now, updated_at=now)
                )
            if leavers:
                report.left = [people[pid]["external_id"] for pid in leavers]
                self._audit_rows(
                    conn,
                    [
                        {
                            "at": now,
                            "actor": actor,
                            "action": "person.left",
                            "person_id": pid,
                            "detail": {"source": source, "import_id": import_id},
                        }
                        for pid in leavers
                    ],
                )
            conn.execute(
                update(dm.directory_imports)
                .where(dm.directory_imports.c.id == import_id)
                .values(summary=report.summary())
            )
            if audits or leavers:  # roles, logins, groups, leavers: whose policy a login gets
                policy_generation.bump(conn)
            report.import_id = None if dry_run else import_id

    # ------------------------------------------------------------------ people
    def get_person(self, person_id: int) -> Person:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(dm.people).where(dm.people.c.id == person_id))
                .mappings()
                .first()
            )
            if row is None:
                raise PersonNotFound(f"no person {person_id}")
            return self._people(conn, [row])[0]

    def person_by_external_id(self, external_id: str) -> Person:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(dm.people).where(dm.people.c.external_id == external_id))
                .mappings()
                .first()
            )
            if row is None:
                raise PersonNotFound(f"no person with id {external_id!r}")
            return self._people(conn, [row])[0]

    def find_people(
        self,
        q: str | None = None,
        *,
        role: str | None = None,
        status: str | None = "active",
        group: str | None = None,
        site: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Person]:
        """Search by name, id, email or login (case-insensitive substring); newest names first
        is meaningless here, so the order is family name, given name."""
        p = dm.people
        query = select(p)
        if q:
            like = f"%{q.strip().lower()}%"
            login_match = select(dm.logins.c.person_id).where(dm.logins.c.login.like(like))
            query = query.where(
                or_(
                    func.lower(p.c.given_name).like(like),
                    func.lower(p.c.family_name).like(like),
                    func.lower(p.c.preferred_name).like(like),
                    func.lower(p.c.given_name + " " + p.c.family_name).like(like),
                    func.lower(p.c.external_id).like(like),
                    p.c.email.like(like),
                    p.c.id.in_(login_match),
                )
            )
        if role:
            query = query.where(p.c.role == role)
        if status:
            query = query.where(p.c.status == status)
        if site:
            query = query.where(p.c.site == site)
        if group:
            members = select(dm.person_groups.c.person_id).where(
                dm.person_groups.c.group_name == normalise_group(group)
            )
            query = query.where(p.c.id.in_(members))
        query = query.order_by(p.c.family_name, p.c.given_name, p.c.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return self._people(conn, conn.execute(query).mappings().all())

    def count_people(self, status: str | None = "active") -> int:
        query = select(func.count()).select_from(dm.people)
        if status:
            query = query.where(dm.people.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _people(self, conn: Connection, rows: Sequence[RowMapping]) -> list[Person]:
        ids = [r["id"] for r in rows]
        logins: dict[int, list[str]] = defaultdict(list)
        groups: dict[int, list[str]] = defaultdict(list)
        sources: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks(ids):
            for r in conn.execute(
                select(dm.logins.c.person_id, dm.logins.c.login)
                .where(dm.logins.c.person_id.in_(chunk))
                .order_by(dm.logins.c.login)
            ):
                logins[r.person_id].append(r.login)
            for r in conn.execute(
                select(dm.person_groups.c.person_id, dm.person_groups.c.group_name)
                .where(dm.person_groups.c.person_id.in_(chunk))
                .order_by(dm.person_groups.c.group_name)
            ):
                groups[r.person_id].append(r.group_name)
            for r in conn.execute(
                select(dm.person_sources.c.person_id, dm.person_sources.c.source)
                .where(dm.person_sources.c.person_id.in_(chunk))
                .order_by(dm.person_sources.c.source)
            ):
                sources[r.person_id].append(r.source)
        return [
            Person(
                id=r["id"],
                external_id=r["external_id"],
                role=r["role"],
                given_name=r["given_name"],
                family_name=r["family_name"],
                preferred_name=r["preferred_name"],
                date_of_birth=r["date_of_birth"],
                course=r["course"],
                year_group=r["year_group"],
                tutor_group=r["tutor_group"],
                site=r["site"],
                email=r["email"],
                status=r["status"],
                left_at=r["left_at"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                logins=tuple(logins[r["id"]]),
                groups=tuple(groups[r["id"]]),
                sources=tuple(sources[r["id"]]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ manual mapping
    def add_login(
        self, person_id: int, login: str, actor: str, now: datetime | None = None
    ) -> None:
        """Map one more login (a local account, a renamed profile) to a person, by hand."""
        now = now or utcnow()
        value = normalise(login)
        if not value:
            raise DirectoryError("the login is empty")
        with self._write() as conn:
            self._require_person(conn, person_id)
            exists = conn.execute(
                select(dm.logins.c.id).where(
                    dm.logins.c.login == value, dm.logins.c.person_id == person_id
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(dm.logins).values(
                        person_id=person_id, login=value, kind="alias", source="manual"
                    )
                )
                self._audit(conn, actor, "login.added", person_id, now, kind="alias")
                policy_generation.bump(conn)

    def remove_login(
        self, person_id: int, login: str, actor: str, now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        with self._write() as conn:
            res = conn.execute(
                delete(dm.logins).where(
                    dm.logins.c.person_id == person_id, dm.logins.c.login == normalise(login)
                )
            )
            if res.rowcount:
                self._audit(conn, actor, "login.removed", person_id, now)
                policy_generation.bump(conn)

    def add_to_group(
        self, person_id: int, group: str, actor: str, now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        name = normalise_group(group)
        if not name:
            raise DirectoryError("the group name is empty")
        with self._write() as conn:
            self._require_person(conn, person_id)
            pg = dm.person_groups
            exists = conn.execute(
                select(pg.c.person_id).where(pg.c.person_id == person_id, pg.c.group_name == name)
            ).first()
            if exists is None:
                conn.execute(
                    insert(pg).values(person_id=person_id, group_name=name, source="manual")
                )
                self._audit(conn, actor, "group.joined", person_id, now, group=name)
                policy_generation.bump(conn)

    def remove_from_group(
        self, person_id: int, group: str, actor: str, now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        name = normalise_group(group)
        with self._write() as conn:
            res = conn.execute(
                delete(dm.person_groups).where(
                    dm.person_groups.c.person_id == person_id, dm.person_groups.c.group_name == name
                )
            )
            if res.rowcount:
                self._audit(conn, actor, "group.left", person_id, now, group=name)
                policy_generation.bump(conn)

    @staticmethod
    def _require_person(conn: Connection, person_id: int) -> None:
        if conn.execute(select(dm.people.c.id).where(dm.people.c.id == person_id)).first() is None:
            raise PersonNotFound(f"no person {person_id}")

    # ------------------------------------------------------------------ special logins
    def set_special_login(
        self, login: str, kind: str, label: str, actor: str, now: datetime | None = None
    ) -> SpecialLogin:
        """Declare a login (or a glob such as `exam*`) as a guest or shared account."""
        now = now or utcnow()
        value = normalise(login)
        if not value:
            raise DirectoryError("the login is empty")
        if kind not in SPECIAL_KINDS:
            raise DirectoryError(f"kind must be one of {', '.join(SPECIAL_KINDS)}")
        t = dm.special_logins
        with self._write() as conn:
            conn.execute(delete(t).where(t.c.login == value))
            conn.execute(
                insert(t).values(login=value, kind=kind, label=label[:255], created_at=now)
            )
            self._audit(conn, actor, "special_login.set", None, now, login=value, kind=kind)
            policy_generation.bump(conn)
        return SpecialLogin(value, kind, label[:255])  # type: ignore[arg-type]

    def remove_special_login(self, login: str, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._write() as conn:
            res = conn.execute(
                delete(dm.special_logins).where(dm.special_logins.c.login == normalise(login))
            )
            if res.rowcount:
                self._audit(conn, actor, "special_login.removed", None, now, login=normalise(login))
                policy_generation.bump(conn)

    def list_special_logins(self) -> list[SpecialLogin]:
        t = dm.special_logins
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.login, t.c.kind, t.c.label).order_by(t.c.login)).all()
        return [SpecialLogin(r.login, r.kind, r.label) for r in rows]

    # ------------------------------------------------------------------ resolution
    def resolve(self, os_user: str, device_id: str, at: datetime) -> Subject:
        """Who was at the keyboard: the person a login maps to, or a guest/shared/unknown
        subject with the device and time. Read-only (safe inside the ingest transaction)."""
        with self.engine.connect() as conn:
            return self._resolve(conn, os_user, device_id, at, _ResolveCache())

    def resolve_many(
        self,
        items: Iterable[tuple[str, str, datetime]],
        person_ids: Sequence[int | None] | None = None,
    ) -> list[Subject]:
        """`resolve` for a page of alerts or a batch of events: logins and people are read in a
        few batched queries, not per item.

        ``person_ids`` (one per item, or None) are the people alerts were raised about: such an
        item is that person even if its login now belongs to someone else, and names no one if
        the person has since been purged."""
        batch = list(items)
        hints = list(person_ids) if person_ids is not None else [None] * len(batch)
        cache = _ResolveCache()
        with self.engine.connect() as conn:
            keys = sorted({k for os_user, _, _ in batch for k in lookup_keys(os_user)})
            owners: dict[str, set[tuple[int, str]]] = defaultdict(set)
            lg, p = dm.logins, dm.people
            for chunk in _chunks(keys):
                for r in conn.execute(
                    select(lg.c.login, p.c.id, p.c.status)
                    .join(p, lg.c.person_id == p.c.id)
                    .where(lg.c.login.in_(chunk))
                ):
                    owners[r.login].add((r.id, r.status))
            cache.login_owners = owners
            wanted = {pid for o in owners.values() for pid, _ in o} | {h for h in hints if h}
            self._load_profiles(conn, sorted(wanted), cache)
            return [
                self._resolve(conn, u, d, at, cache, person_id=hint)
                for (u, d, at), hint in zip(batch, hints, strict=True)
            ]

    @staticmethod
    def _load_profiles(conn: Connection, person_ids: Sequence[int], cache: "_ResolveCache") -> None:
        """Read people, their groups and open known-case flags into the cache, in chunks."""
        pg, f = dm.person_groups, dm.person_flags
        for chunk in _chunks([pid for pid in person_ids if pid not in cache.people]):
            rows = {
                r["id"]: dict(r)
                for r in conn.execute(select(dm.people).where(dm.people.c.id.in_(chunk))).mappings()
            }
            groups: dict[int, set[str]] = defaultdict(set)
            for g in conn.execute(
                select(pg.c.person_id, pg.c.group_name).where(pg.c.person_id.in_(chunk))
            ):
                groups[g.person_id].add(g.group_name)
            known = set(
                conn.execute(
                    select(f.c.person_id).where(
                        f.c.person_id.in_(chunk),
                        f.c.kind == "known_case",
                        f.c.cleared_at.is_(None),
                    )
                ).scalars()
            )
            for pid, row in rows.items():
                # Every person is also in the group named after their role ("staff" policies).
                cache.people[pid] = _Profile(
                    row, tuple(sorted({*groups[pid], row["role"]})), pid in known
                )

    def _resolve(
        self,
        conn: Connection,
        os_user: str,
        device_id: str,
        at: datetime,
        cache: "_ResolveCache",
        person_id: int | None = None,
    ) -> Subject:
        facts = cache.devices.get(device_id)
        if facts is None:
            facts = cache.devices[device_id] = self._device_facts(conn, device_id)
        base = Subject(
            kind="unknown",
            os_user=os_user,
            device_id=device_id,
            at=at,
            hostname=facts.hostname,
            site=facts.site or "",
            device_site=facts.site or "",
            groups=facts.groups,
            device_groups=facts.groups,
        )
        if person_id is not None:
            if person_id not in cache.people:
                self._load_profiles(conn, [person_id], cache)
            if person_id in cache.people:
                return self._person_subject(conn, base, person_id, cache)
            return replace(base, reason="purged")
        keys = lookup_keys(os_user)
        if not keys:
            return replace(base, reason="empty")
        if cache.specials is None:
            t = dm.special_logins
            cache.specials = [
                SpecialLogin(r.login, r.kind, r.label)
                for r in conn.execute(select(t.c.login, t.c.kind, t.c.label))
            ]
        exact = {s.login: s for s in cache.specials}
        for key in keys:
            if key in exact:
                return self._special(base, exact[key].kind, exact[key].label)
        lg, p = dm.logins, dm.people
        if cache.login_owners is None:
            owners: dict[str, set[tuple[int, str]]] = defaultdict(set)
            for r in conn.execute(
                select(lg.c.login, p.c.id, p.c.status)
                .join(p, lg.c.person_id == p.c.id)
                .where(lg.c.login.in_(keys))
            ):
                owners[r.login].add((r.id, r.status))
        else:
            owners = cache.login_owners
        for key in keys:  # most specific form first
            found = owners.get(key, set())
            if not found:
                continue
            active = {pid for pid, st in found if st == "active"}
            chosen = active or {pid for pid, _ in found}
            if len(chosen) > 1:
                return replace(base, reason="ambiguous")
            return self._person_subject(conn, base, chosen.pop(), cache)
        # A login that is the student id itself (common for Linux and Google-managed devices).
        by_id = conn.execute(
            select(p.c.id).where(func.lower(p.c.external_id).in_(keys)).order_by(p.c.status)
        ).first()
        if by_id is not None:
            return self._person_subject(conn, base, by_id[0], cache)
        for s in cache.specials:
            if any(ch in s.login for ch in "*?[") and matches_pattern(keys, s.login):
                return self._special(base, s.kind, s.label)
        if any(k in BUILTIN_GUEST_LOGINS for k in keys):
            return self._special(base, "guest", "Guest account")
        return replace(base, reason="no_match")

    @staticmethod
    def _special(base: Subject, kind: str, label: str) -> Subject:
        role: Literal["guest", "unknown"] = "guest" if kind == "guest" else "unknown"
        return replace(
            base,
            kind=kind,  # type: ignore[arg-type]
            role=role,
            label=label,
            person_groups=(kind,),
            groups=tuple(sorted({*base.device_groups, kind})),
        )

    def _person_subject(
        self, conn: Connection, base: Subject, person_id: int, cache: "_ResolveCache"
    ) -> Subject:
        if person_id not in cache.people:
            self._load_profiles(conn, [person_id], cache)
        profile = cache.people[person_id]
        r = profile.row
        first = r["preferred_name"] or r["given_name"]
        return replace(
            base,
            kind="person",
            person_id=person_id,
            external_id=r["external_id"],
            display_name=" ".join(x for x in (first, r["family_name"]) if x) or r["external_id"],
            role=r["role"],
            age_band=age_band(r["date_of_birth"], base.at),
            course=r["course"],
            year_group=r["year_group"],
            tutor_group=r["tutor_group"],
            site=r["site"] or base.device_site,
            person_site=r["site"],
            person_groups=profile.groups,
            groups=tuple(sorted({*profile.groups, *base.device_groups})),
            known_case=profile.known_case,
            left=r["status"] == "left",
        )

    def unresolved_logins(self, since: datetime, limit: int = 500) -> list[LoginSighting]:
        """OS users seen on devices since a time that are not one known person: unknown,
        ambiguous, guest and shared logins, with device and first/last seen. For IT to map."""
        e, d = sm.events, sm.devices
        query = (
            select(
                e.c.os_user,
                e.c.device_id,
                d.c.hostname,
                func.min(e.c.observed_at).label("first_seen"),
                func.max(e.c.observed_at).label("last_seen"),
                func.count().label("events"),
            )
            .join(d, d.c.id == e.c.device_id)
            .where(e.c.observed_at >= since)
            .group_by(e.c.os_user, e.c.device_id, d.c.hostname)
            .order_by(func.max(e.c.observed_at).desc())
        )
        out: list[LoginSighting] = []
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            cache = _ResolveCache()
            for r in rows:
                first, last = r.first_seen, r.last_seen
                subject = self._resolve(conn, r.os_user, r.device_id, last, cache)
                if subject.kind == "person":
                    continue
                out.append(
                    LoginSighting(
                        os_user=r.os_user,
                        kind=subject.kind,
                        reason=subject.reason,
                        label=subject.label,
                        device_id=r.device_id,
                        hostname=r.hostname,
                        first_seen=first,
                        last_seen=last,
                        events=int(r.events),
                    )
                )
                if len(out) >= limit:
                    break
        return out

    # ------------------------------------------------------------------ devices
    def device_facts(self, device_id: str) -> DeviceFacts:
        with self.engine.connect() as conn:
            return self._device_facts(conn, device_id)

    @staticmethod
    def _device_facts(conn: Connection, device_id: str) -> DeviceFacts:
        d, inv = sm.devices, dm.device_inventory
        dev = conn.execute(
            select(d.c.hostname, d.c.hardware_serial, d.c.group_name).where(d.c.id == device_id)
        ).first()
        if dev is None:
            return DeviceFacts(device_id, "", "", None, None, None)
        item = None
        serial = dev.hardware_serial.strip().upper()
        if serial:
            item = conn.execute(
                select(inv.c.site, inv.c.group_name).where(inv.c.serial == serial)
            ).first()
        if item is None and dev.hostname:
            item = conn.execute(
                select(inv.c.site, inv.c.group_name).where(
                    inv.c.hostname == dev.hostname.strip().lower()
                )
            ).first()
        return DeviceFacts(
            device_id=device_id,
            hostname=dev.hostname,
            hardware_serial=dev.hardware_serial,
            enrolment_group=dev.group_name,
            inventory_group=(item.group_name or None) if item else None,
            site=(item.site or None) if item else None,
        )

    def apply_inventory_import(
        self,
        parsed: ParsedInventory,
        *,
        filename: str = "",
        sha256: str = "",
        actor: str = "import",
        now: datetime | None = None,
        dry_run: bool = False,
    ) -> ImportReport:
        """Replace the device inventory with an MDM export (devices are not people: rows no
        longer in the export are removed). Report ids are serials, or host:<hostname>."""
        now = now or utcnow()
        inv = dm.device_inventory
        report = ImportReport(
            source="inventory",
            filename=filename,
            rows=parsed.total,
            unusable=list(parsed.unusable),
            dry_run=dry_run,
        )
        with self._tx(dry_run) as conn:
            import_id = conn.execute(
                insert(dm.directory_imports).values(
                    source="inventory",
                    filename=filename[:255],
                    sha256=sha256,
                    actor=actor,
                    at=now,
                    summary={},
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            existing = {(r.serial or f"host:{r.hostname}"): r for r in conn.execute(select(inv))}
            seen: set[str] = set()
            for row in parsed.rows:
                key = row.serial or f"host:{row.hostname}"
                seen.add(key)
                values = {
                    "serial": row.serial,
                    "hostname": row.hostname,
                    "site": row.site,
                    "group_name": row.group_name,
                }
                old = existing.get(key)
                if old is None:
                    conn.execute(insert(inv).values(import_id=import_id, updated_at=now, **values))
                    report.added.append(key)
                elif any(getattr(old, k) != v for k, v in values.items()):
                    conn.execute(
                        update(inv)
                        .where(inv.c.id == old.id)
                        .values(import_id=import_id, updated_at=now, **values)
                    )
                    report.changed.append(key)
                else:
                    report.unchanged += 1
            gone = [r.id for k, r in existing.items() if k not in seen]
            for chunk in _chunks(gone):
                conn.execute(delete(inv).where(inv.c.id.in_(chunk)))
            report.left = sorted(k for k in existing if k not in seen)
            conn.execute(
                update(dm.directory_imports)
                .where(dm.directory_imports.c.id == import_id)
                .values(summary=report.summary())
            )
            if report.added or report.changed or report.left:  # devices' groups
                policy_generation.bump(conn)
            # who replaced the list of devices coverage expects and the groups devices are in
            self._audit(
                conn,
                actor,
                "inventory.imported",
                None,
                now,
                import_id=import_id,
                added=len(report.added),
                changed=len(report.changed),
                left=len(report.left),
            )
            report.import_id = None if dry_run else import_id
        return report

    # ------------------------------------------------------------------ group policies
    def put_policy(
        self, group: str, spec: PolicySpec, actor: str, now: datetime | None = None
    ) -> GroupPolicy:
        """Store a new version of a group's policy (validated; history is kept)."""
        now = now or utcnow()
        name = normalise_group(group)
        if not name:
            raise DirectoryError("the group name is empty")
        spec = spec.validated()
        return self._new_policy_version(name, spec, actor, now, deleted=False)

    def delete_policy(self, group: str, actor: str, now: datetime | None = None) -> None:
        """The group has no policy from now on (a tombstone version keeps the history)."""
        now = now or utcnow()
        name = normalise_group(group)
        if self.current_policy(name) is None:
            raise DirectoryError(f"group {name!r} has no policy")
        self._new_policy_version(name, PolicySpec(), actor, now, deleted=True)

    def _new_policy_version(
        self, name: str, spec: PolicySpec, actor: str, now: datetime, deleted: bool
    ) -> GroupPolicy:
        t = dm.group_policies
        data = spec_to_mapping(spec)
        with self._write() as conn:
            latest = conn.execute(
                select(func.max(t.c.version)).where(t.c.group_name == name)
            ).scalar_one()
            version = (latest or 0) + 1
            conn.execute(
                insert(t).values(
                    group_name=name,
                    version=version,
                    deleted=deleted,
                    changed_by=actor,
                    changed_at=now,
                    **data,
                )
            )
            self._audit(
                conn,
                actor,
                "policy.deleted" if deleted else "policy.changed",
                None,
                now,
                group=name,
                version=version,
            )
            policy_generation.bump(conn)
        return GroupPolicy(name, version, spec, actor, now, deleted)

    def current_policy(self, group: str) -> GroupPolicy | None:
        policies = self._current_policies([normalise_group(group)])
        return policies.get(normalise_group(group))

    def list_policies(self) -> list[GroupPolicy]:
        return sorted(self._current_policies(None).values(), key=lambda gp: gp.group_name)

    def policy_history(self, group: str) -> list[GroupPolicy]:
        t = dm.group_policies
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t)
                    .where(t.c.group_name == normalise_group(group))
                    .order_by(t.c.version.desc())
                )
                .mappings()
                .all()
            )
        return [_group_policy(r) for r in rows]

    def _current_policies(
        self, names: Sequence[str] | None, conn: Connection | None = None
    ) -> dict[str, GroupPolicy]:
        t = dm.group_policies
        latest = select(t.c.group_name, func.max(t.c.version).label("v")).group_by(t.c.group_name)
        if names is not None:
            if not names:
                return {}
            latest = latest.where(t.c.group_name.in_(list(names)))
        sub = latest.subquery()
        query = select(t).join(
            sub, and_(t.c.group_name == sub.c.group_name, t.c.version == sub.c.v)
        )
        if conn is None:
            with self.engine.connect() as own:
                rows = own.execute(query).mappings().all()
        else:
            rows = conn.execute(query).mappings().all()
        return {r["group_name"]: _group_policy(r) for r in rows if not r["deleted"]}

    def policy_for_device(
        self,
        device_id: str,
        base: pb.Policy,
        *,
        os_user: str | None = None,
        at: datetime | None = None,
    ) -> EffectivePolicy:
        """The policy for a device: the base, then its device groups' and its user's groups'
        policies (precedence in collector.directory.policies). The user is `os_user` if given,
        else the OS user of the device's newest event with one (the result's `os_user`).
        Read-only, one connection."""
        at = at or utcnow()
        with self.engine.connect() as conn:
            cache = _ResolveCache()
            facts = cache.devices[device_id] = self._device_facts(conn, device_id)
            if os_user is None:
                os_user = self._last_os_user(conn, device_id)
            person_groups: tuple[str, ...] = ()
            if os_user:
                person_groups = self._resolve(conn, os_user, device_id, at, cache).person_groups
            current = self._current_policies(sorted({*facts.groups, *person_groups}), conn)
        applicable: list[tuple[GroupPolicy, GroupSource]] = [
            (current[g], "device") for g in facts.groups if g in current
        ]
        applicable += [
            (current[g], "person") for g in person_groups if g in current and g not in facts.groups
        ]
        return replace(resolve_policy(from_proto(base), applicable), os_user=os_user)

    @staticmethod
    def _last_os_user(conn: Connection, device_id: str) -> str:
        e = sm.events
        user = conn.execute(
            select(e.c.os_user)
            .where(e.c.device_id == device_id, e.c.os_user != "")
            .order_by(e.c.observed_at.desc())
            .limit(1)
        ).scalar()
        return str(user or "")

    def recent_imports(self, limit: int = 20, source: str | None = None) -> list[ImportRecord]:
        """The latest people and inventory imports (or those from `source` only, e.g.
        "inventory"), newest first (dry runs leave no row)."""
        i = dm.directory_imports
        query = select(i).order_by(i.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(i.c.source == source)
        with self.engine.connect() as conn:
            return [
                ImportRecord(
                    r["id"], r["source"], r["filename"], r["actor"], r["at"], dict(r["summary"])
                )
                for r in conn.execute(query).mappings()
            ]

    def expected_devices(self) -> list[ExpectedDevice]:
        """The devices the MDM inventory lists: those coverage expects to be monitored."""
        inv = dm.device_inventory
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(inv.c.serial, inv.c.hostname, inv.c.site, inv.c.group_name).order_by(
                    inv.c.id
                )
            ).all()
        return [ExpectedDevice(*r) for r in rows]

    def list_groups(self) -> list[GroupSummary]:
        """Every group that has members, devices or a policy, with counts (no names)."""
        pg, p, d, inv = dm.person_groups, dm.people, sm.devices, dm.device_inventory
        with self.engine.connect() as conn:
            people_counts: dict[str, int] = {
                r[0]: int(r[1])
                for r in conn.execute(
                    select(pg.c.group_name, func.count())
                    .join(p, p.c.id == pg.c.person_id)
                    .where(p.c.status == "active")
                    .group_by(pg.c.group_name)
                )
            }
            # Every person is also in the group named after their role.
            for r in conn.execute(
                select(p.c.role, func.count()).where(p.c.status == "active").group_by(p.c.role)
            ):
                people_counts[r[0]] = people_counts.get(r[0], 0) + int(r[1])
            device_counts: dict[str, int] = defaultdict(int)
            for (name,) in conn.execute(
                select(d.c.group_name).where(d.c.group_name.is_not(None), d.c.revoked.is_(False))
            ):
                device_counts[normalise_group(name)] += 1
            for (name,) in conn.execute(select(inv.c.group_name).where(inv.c.group_name != "")):
                device_counts[name] += 1
            policies = self._current_policies(None, conn)
        names = sorted({*people_counts, *device_counts, *policies})
        return [
            GroupSummary(
                name=n,
                people=people_counts.get(n, 0),
                devices=device_counts.get(n, 0),
                policy_version=policies[n].version if n in policies else None,
            )
            for n in names
        ]

    # ------------------------------------------------------------------ DSL flags (dsl only)
    def flag_known_case(
        self, person_id: int, reason: str, actor: str, now: datetime | None = None
    ) -> Flag:
        """Mark a person as already known to safeguarding (an open case). dsl only."""
        now = now or utcnow()
        if not reason.strip():
            raise DirectoryError("say why (a case reference is enough)")
        f = dm.person_flags
        with self._write() as conn:
            self._require_person(conn, person_id)
            open_flag = conn.execute(
                select(f.c.id).where(
                    f.c.person_id == person_id, f.c.kind == "known_case", f.c.cleared_at.is_(None)
                )
            ).first()
            if open_flag is not None:
                raise DirectoryError(f"person {person_id} already has an open known_case flag")
            flag_id = conn.execute(
                insert(f).values(
                    person_id=person_id,
                    kind="known_case",
                    reason=reason.strip(),
                    set_by=actor,
                    set_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            self._audit(conn, actor, "flag.set", person_id, now, flag_id=flag_id, kind="known_case")
            row = conn.execute(select(f).where(f.c.id == flag_id)).mappings().one()
        return _flag(row)

    def clear_flag(
        self, flag_id: int, reason: str, actor: str, now: datetime | None = None
    ) -> Flag:
        """Close a flag (the case is closed). The flag and who cleared it stay. dsl only."""
        now = now or utcnow()
        f = dm.person_flags
        with self._write() as conn:
            row = conn.execute(select(f).where(f.c.id == flag_id)).mappings().first()
            if row is None:
                raise DirectoryError(f"no flag {flag_id}")
            if row["cleared_at"] is not None:
                raise DirectoryError(f"flag {flag_id} is already cleared")
            conn.execute(
                update(f)
                .where(f.c.id == flag_id)
                .values(cleared_by=actor, cleared_at=now, clear_reason=reason.strip())
            )
            self._audit(conn, actor, "flag.cleared", row["person_id"], now, flag_id=flag_id)
            row = conn.execute(select(f).where(f.c.id == flag_id)).mappings().one()
        return _flag(row)

    def flags_for_person(self, person_id: int, include_cleared: bool = True) -> list[Flag]:
        """A person's flags, newest first. dsl only."""
        f = dm.person_flags
        query = (
            select(f).where(f.c.person_id == person_id).order_by(f.c.set_at.desc(), f.c.id.desc())
        )
        if not include_cleared:
            query = query.where(f.c.cleared_at.is_(None))
        with self.engine.connect() as conn:
            return [_flag(r) for r in conn.execute(query).mappings()]

    def known_cases(self) -> list[tuple[Person, Flag]]:
        """People with an open known_case flag. dsl only: the REST layer checks the role; no
        other code path may call this (docs/directory.md, "DSL flags")."""
        f, p = dm.person_flags, dm.people
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(f)
                    .where(f.c.kind == "known_case", f.c.cleared_at.is_(None))
                    .order_by(f.c.set_at)
                )
                .mappings()
                .all()
            )
            flags = [_flag(r) for r in rows]
            people = {
                person.id: person
                for person in self._people(
                    conn,
                    conn.execute(select(p).where(p.c.id.in_([fl.person_id for fl in flags])))
                    .mappings()
                    .all(),
                )
            }
        return [(people[fl.person_id], fl) for fl in flags]

    # ------------------------------------------------------------------ retention and audit
    def purge_left(
        self, left_before: datetime, actor: str = "retention", now: datetime | None = None
    ) -> int:
        """Delete people marked left before a cut-off, with their logins, groups and flags.
        Called by the retention job; returns how many were deleted."""
        now = now or utcnow()
        p = dm.people
        with self._write() as conn:
            ids = list(
                conn.execute(
                    select(p.c.id).where(p.c.status == "left", p.c.left_at < left_before)
                ).scalars()
            )
            for chunk in _chunks(ids):
                # Explicit deletes: SQLite only cascades with foreign_keys=ON, which a bare
                # engine may not have.
                for table in (dm.logins, dm.person_groups, dm.person_sources, dm.person_flags):
                    conn.execute(delete(table).where(table.c.person_id.in_(chunk)))
                conn.execute(delete(p).where(p.c.id.in_(chunk)))
            for pid in ids:
                self._audit(conn, actor, "person.purged", pid, now)
            if ids:
                policy_generation.bump(conn)
        return len(ids)

    def audit_log(self, person_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """Directory changes from the audit chain, newest first (of one person, or all)."""
        from collector.alerts.models import audit_log as a

        query = (
            select(a)
            .where(a.c.action.startswith(AUDIT_PREFIX))
            .order_by(a.c.seq.desc())
            .limit(limit)
        )
        if person_id is not None:
            query = query.where(a.c.object_type == "person", a.c.object_id == str(person_id))
        with self.engine.connect() as conn:
            return [
                AuditEntry(
                    r["seq"],
                    r["at"],
                    r["actor"],
                    r["action"].removeprefix(AUDIT_PREFIX),
                    int(r["object_id"]) if r["object_type"] == "person" else None,
                    dict(r["detail"]),
                )
                for r in conn.execute(query).mappings()
            ]


@dataclass(frozen=True, slots=True)
class _Profile:
    row: dict[str, Any]
    groups: tuple[str, ...]
    known_case: bool


@dataclass(slots=True)
class _ResolveCache:
    """What one resolve call (or one resolve_many batch) has already read."""

    devices: dict[str, DeviceFacts] = field(default_factory=dict)
    specials: list[SpecialLogin] | None = None
    people: dict[int, _Profile] = field(default_factory=dict)
    # Prefetched by resolve_many: login -> {(person id, status)}; None: query per resolve.
    login_owners: dict[str, set[tuple[int, str]]] | None = None


class _Refused(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.refused)
        self.report = report


def _or_empty(value: Any) -> Any:
    return "" if value is None else value


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _group_policy(r: RowMapping) -> GroupPolicy:
    spec = spec_from_mapping(
        {
            k: r[k]
            for k in (
                "priority",
                "categories",
                "min_severity",
                "notice_text",
                "capture_typed",
                "capture_titles",
                "heartbeat_seconds",
                "excluded_apps",
            )
        }
    )
    return GroupPolicy(
        r["group_name"], r["version"], spec, r["changed_by"], r["changed_at"], bool(r["deleted"])
    )


def _flag(r: RowMapping) -> Flag:
    return Flag(
        id=r["id"],
        person_id=r["person_id"],
        kind=r["kind"],
        reason=r["reason"],
        set_by=r["set_by"],
        set_at=r["set_at"],
        cleared_by=r["cleared_by"],
        cleared_at=r["cleared_at"],
        clear_reason=r["clear_reason"],
    )


__all__ = [
    "DirectoryError",
    "DirectoryStore",
    "Flag",
    "LoginSighting",
    "PersonNotFound",
    "SpecialLogin",
]
