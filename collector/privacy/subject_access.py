"""Subject access: everything Lantern holds about one person, for the college's DPO.

The export is for the DPO to review before anything is disclosed: safeguarding records may be
withheld under the Data Protection Act 2018 (Schedule 3, child abuse data; serious harm test).
Every export is itself written to the audit log.
"""

import dataclasses
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, or_, select

from collector.alerts import audit
from collector.alerts import models as am
from collector.clock import utcnow
from collector.directory.store import DirectoryStore
from collector.store import models as m


class SubjectNotFound(LookupError):
    """No single person matches what was asked for."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def find_person_id(directory: DirectoryStore, who: str) -> int:
    """A person by external id, email or login (exactly one match, or SubjectNotFound)."""
    wanted = who.strip().lower()
    candidates = directory.find_people(wanted, status=None, limit=20)
    exact = [
        p
        for p in candidates
        if wanted in {p.external_id.lower(), p.email.lower(), *(x.lower() for x in p.logins)}
    ]
    matches = exact or candidates
    if len(matches) != 1:
        raise SubjectNotFound(
            f"{len(matches)} people match {who!r}: give the student id, email or exact login"
        )
    return matches[0].id


def export(engine: Engine, directory: DirectoryStore, who: str, actor: str) -> dict[str, Any]:
    """Everything held about one person, as plain JSON-ready data."""
    person_id = find_person_id(directory, who)
    person = directory.get_person(person_id)
    # The os_user spellings agents reported that resolve to this person (user, DOMAIN\user, UPN).
    with engine.connect() as conn:
        seen = {r[0] for r in conn.execute(select(m.events.c.os_user).distinct())}
        seen |= {r[0] for r in conn.execute(select(m.alerts.c.os_user).distinct())}
    now = utcnow()
    logins = sorted(u for u in seen if u and directory.resolve(u, "", now).person_id == person_id)
    with engine.connect() as conn:
        events = (
            conn.execute(
                select(m.events)
                .where(m.events.c.os_user.in_(logins))
                .order_by(m.events.c.observed_at)
            )
            .mappings()
            .all()
        )
        alerts = (
            conn.execute(
                select(m.alerts)
                .where(
                    # Raised about this person; older alerts (no person recorded) by login.
                    or_(
                        m.alerts.c.person_id == person_id,
                        m.alerts.c.os_user.in_(logins) & m.alerts.c.person_id.is_(None),
                    )
                )
                .order_by(m.alerts.c.created_at)
            )
            .mappings()
            .all()
        )
        alert_ids = [a["id"] for a in alerts]
        notes = (
            conn.execute(select(am.alert_notes).where(am.alert_notes.c.alert_id.in_(alert_ids)))
            .mappings()
            .all()
        )
        members = (
            conn.execute(select(am.alert_members).where(am.alert_members.c.os_user.in_(logins)))
            .mappings()
            .all()
        )
        audit_rows = (
            conn.execute(
                select(am.audit_log).where(
                    or_(
                        (am.audit_log.c.object_type == "person")
                        & (am.audit_log.c.object_id == str(person_id)),
                        (am.audit_log.c.object_type == "alert")
                        & (am.audit_log.c.object_id.in_([str(i) for i in alert_ids])),
                    )
                )
            )
            .mappings()
            .all()
        )
    result = {
        "generated_at": now.isoformat(),
        "requested": who,
        "note": (
            "For the DPO's review before disclosure: safeguarding records may be exempt "
            "(DPA 2018 Schedule 3). Typed text is never stored; matches hold a bounded snippet."
        ),
        "person": _plain(person),
        "flags": _plain(directory.flags_for_person(person_id)),
        "logins_seen": logins,
        "events": [_plain(dict(r)) for r in events],
        "alerts": [_plain(dict(r)) for r in alerts],
        "alert_notes": [_plain(dict(r)) for r in notes],
        "cohort_memberships": [_plain(dict(r)) for r in members],
        "audit": [_plain(dict(r)) for r in audit_rows],
    }
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action="sar.export",
            object_type="person",
            object_id=str(person_id),
            at=now,
            detail={"events": len(events), "alerts": len(alerts)},
        )
    return result
