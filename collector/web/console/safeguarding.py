"""Safeguarding pages (dsl only): the alert queue, one alert, a student, the CSV export."""

from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from collector.clock import utcnow
from collector.store import Store
from collector.web import actions, casework
from collector.web.audit import record
from collector.web.deps import SafeguardingUser, StoreDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)


def _engine(store: Store) -> Any:
    return store.engine  # type: ignore[attr-defined]


def _subjects(store: Store, rows: list[dict[str, Any]]) -> list[Any] | None:
    """Who each alert row was about — its recorded person, else its login at the alert's time —
    from the directory; None when the directory cannot say (it is optional: logins still show)."""
    try:
        from collector.directory.store import DirectoryStore

        return DirectoryStore.for_store(store).resolve_many(
            [(r["os_user"], r["device_id"], r["created_at"]) for r in rows],
            [r.get("person_id") for r in rows],
        )
    except Exception:
        return None


def display_names(store: Store, rows: list[dict[str, Any]]) -> dict[int, str]:
    """Alert id → the name of the person it was raised about (absent when unknown). Per alert,
    not per login: a login can pass to someone else."""
    named = [r for r in rows if r["os_user"] or r.get("person_id")]
    subjects = _subjects(store, named) if named else None
    if subjects is None:
        return {}
    return {r["id"]: s.display_name for r, s in zip(named, subjects, strict=True) if s.display_name}


def _current_name(store: Store, login: str) -> str:
    """Whose login this is today, by the directory ("" when it cannot say)."""
    try:
        from collector.directory.store import DirectoryStore

        return DirectoryStore.for_store(store).resolve(login, "", utcnow()).display_name
    except Exception:  # the directory is optional; the login still shows
        return ""


def subject_for(store: Store, row: dict[str, Any]) -> Any:
    """Who was at the keyboard, from the directory (None when it cannot say)."""
    subjects = _subjects(store, [row])
    return subjects[0] if subjects else None


def _filter(category: str, status: str, site: str, student: str) -> casework.QueueFilter:
    if status not in ("open", "all", *casework.STATUSES):
        status = "open"
    return casework.QueueFilter(category=category, status=status, site=site, student=student)


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(
    request: Request,
    store: StoreDep,
    _user: SafeguardingUser,
    category: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=16)] = "open",
    site: Annotated[str, Query(max_length=128)] = "",
    student: Annotated[str, Query(max_length=255)] = "",
) -> Response:
    """The queue: most severe first, then longest waiting."""
    flt = _filter(category, status, site, student)
    engine = _engine(store)
    rows = casework.queue(engine, flt)
    return page(
        request,
        "queue.html",
        {
            "alerts": rows,
            "names": display_names(store, rows),
            "filter": flt,
            "choices": casework.filter_choices(engine),
            "statuses": casework.STATUSES,
            "latest_id": casework.latest_alert_id(engine),
            "live_url": "/alerts/live?" + urlencode(flt.as_query()),
        },
    )


@router.get("/alerts/live")
def alert_queue_live(
    store: StoreDep,
    _user: SafeguardingUser,
    after: Annotated[int, Query(ge=0)] = 0,
    category: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=16)] = "open",
    site: Annotated[str, Query(max_length=128)] = "",
    student: Annotated[str, Query(max_length=255)] = "",
) -> JSONResponse:
    """Alerts raised after `after` that match the queue's filter (polled by static/live.js)."""
    flt = _filter(category, status, site, student)
    rows = casework.alerts_after(_engine(store), after, flt)
    names = display_names(store, rows)
    return JSONResponse(
        {
            "latest_id": max([after, *(r["id"] for r in rows)]),
            "alerts": [
                {
                    "id": r["id"],
                    "url": f"/alerts/{r['id']}",
                    "severity": r["severity"],
                    "category": r["category"],
                    "status": r["status"],
                    "created_at": r["created_at"].strftime("%Y-%m-%d %H:%M"),
                    "os_user": r["os_user"],
                    "name": names.get(r["id"], ""),
                    "hostname": r["hostname"],
                    "site": r.get("site", ""),
                    "count": r["count"],
                }
                for r in rows
            ],
        }
    )


def _day(value: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"not a date (YYYY-MM-DD): {value!r}") from None
    return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)


@router.get("/alerts/export.csv")
def alert_export(
    store: StoreDep,
    user: SafeguardingUser,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Every alert in the period as CSV for CPOMS / MyConcern import (audited)."""
    rows = casework.export_rows(_engine(store), _day(since), _day(until, end=True))
    body = casework.export_csv(rows, display_names(store, rows))
    record(
        store,
        user.email,
        "alerts.export",
        "alerts",
        "csv",
        {"rows": len(rows), "since": since, "until": until},
    )
    filename = f"lantern-alerts-{since or 'all'}-{until or 'now'}.csv"
    return Response(
        body.encode("utf-8-sig"),  # the BOM makes Excel read UTF-8 names correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _alert_or_404(store: Store, alert_id: int) -> dict[str, Any]:
    row = casework.alert(_engine(store), alert_id)
    if row is None:
        raise HTTPException(404, "no such alert")
    return row


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, store: StoreDep, user: SafeguardingUser, alert_id: int, error: str = ""
) -> Response:
    """One alert: evidence, the context timeline, repeat history and the actions (audited)."""
    row = _alert_or_404(store, alert_id)
    engine = _engine(store)
    history = casework.repeat_history(engine, row)
    workflow = actions.AlertActions(store)
    record(store, user.email, "alert.view", "alert", alert_id)
    return page(
        request,
        "alert.html",
        {
            "alert": row,
            "names": display_names(store, [row, *history]),
            "timeline": casework.context_timeline(engine, row),
            "history": history,
            "notes": workflow.notes(alert_id),
            "members": workflow.members(alert_id) if row.get("kind") == "cluster" else [],
            "actions_log": workflow.history(alert_id),
            "subject": subject_for(store, row),
            "outcomes": actions.OUTCOMES,
            "error": error[:200],
        },
    )


def _act(alert_id: int, fn: Any, *args: Any) -> Response:
    try:
        fn(*args)
    except actions.ActionRefused as exc:
        if exc.not_found:
            raise HTTPException(404, str(exc)) from None
        return RedirectResponse(
            f"/alerts/{alert_id}?error={quote(str(exc)[:200])}#actions", status_code=303
        )
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
def alert_acknowledge(store: StoreDep, user: SafeguardingUser, alert_id: int) -> Response:
    return _act(alert_id, actions.AlertActions(store).acknowledge, alert_id, user.email)


@router.post("/alerts/{alert_id}/assign")
def alert_assign(
    store: StoreDep,
    user: SafeguardingUser,
    alert_id: int,
    assignee: Annotated[str, Form(min_length=1, max_length=320)],
) -> Response:
    return _act(
        alert_id, actions.AlertActions(store).assign, alert_id, assignee.strip(), user.email
    )


@router.post("/alerts/{alert_id}/note")
def alert_note(
    store: StoreDep,
    user: SafeguardingUser,
    alert_id: int,
    text: Annotated[str, Form(max_length=10_000)],
) -> Response:
    return _act(alert_id, actions.AlertActions(store).note, alert_id, text, user.email)


@router.post("/alerts/{alert_id}/close")
def alert_close(
    store: StoreDep,
    user: SafeguardingUser,
    alert_id: int,
    outcome: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    return _act(alert_id, actions.AlertActions(store).close, alert_id, outcome, user.email, note)


@router.get("/student", response_class=HTMLResponse)
def student_page(
    request: Request,
    store: StoreDep,
    user: SafeguardingUser,
    login: Annotated[str, Query(min_length=1, max_length=255)],
) -> Response:
    """One student (by OS login): every alert, by category, and the devices they used."""
    engine = _engine(store)
    rows = casework.student_alerts(engine, login)
    record(store, user.email, "student.view", "login", login)
    return page(
        request,
        "student.html",
        {
            "login": login,
            "name": _current_name(store, login),
            "alerts": rows,
            "by_category": casework.category_counts(rows),
            "devices": casework.student_devices(engine, login),
        },
    )
