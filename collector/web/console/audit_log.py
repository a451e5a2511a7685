"""The audit log viewer (dsl and it_admin), with a check of the hash chain.

IT sees who did what and when, but for actions on alerts and students only the action: the
object and detail there (an alert id, a student login, an outcome) are safeguarding content.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from collector.alerts import audit
from collector.alerts.models import audit_log
from collector.web.deps import FleetUser, StoreDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)

# Object types whose id and detail identify a concern or a student.
SAFEGUARDING_OBJECTS = frozenset({"alert", "alerts", "login", "person", "student"})


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    store: StoreDep,
    user: FleetUser,
    action: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """The newest audit entries (optionally one action) and whether the chain is intact."""
    a = audit_log
    query = select(a).order_by(a.c.seq.desc()).limit(limit)
    if action:
        query = query.where(a.c.action == action)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows: list[dict[str, Any]] = [dict(r) for r in conn.execute(query).mappings()]
        check = audit.verify(conn)
    if user.role != "dsl":
        for r in rows:
            if r["object_type"] in SAFEGUARDING_OBJECTS:
                r["object_id"] = "—"
                r["detail"] = {}
    return page(request, "audit.html", {"entries": rows, "check": check, "action": action})
