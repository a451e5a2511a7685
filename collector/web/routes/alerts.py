"""Alerts: safeguarding staff only (IT and trustees never see alert content).

List with filters, get one (with notes, cohort members and its audit history), acknowledge,
assign, note, close with an outcome; per-rule precision from outcomes; the latest weekly report.
Every change is made by collector.alerts.store.AlertStore and audited with the signed-in user.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from collector.alerts.store import AlertFilter, AlertStore
from collector.alerts.workflow import OUTCOMES, STATUSES, WorkflowError
from collector.clock import utcnow
from collector.directory.routes import DirectoryDep, SubjectOut
from collector.directory.store import DirectoryStore
from collector.store import NotFound
from collector.store.interface import AlertRecord
from collector.web.deps import SafeguardingUser, StoreDep

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def get_alert_store(store: StoreDep) -> AlertStore:
    return AlertStore(store)  # type: ignore[arg-type]


AlertsDep = Annotated[AlertStore, Depends(get_alert_store)]


class Alert(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    count: int
    status: str
    severity: int
    category: str
    rule: str
    source: str
    device_id: str
    hostname: str
    os_user: str
    app: str
    title: str
    matched: str
    snippet: str
    kind: str = "single"
    members: int = 1
    cluster_id: int | None = None
    site: str = ""
    group_name: str = ""
    reasons: list[str] = []
    assignee: str | None = None
    outcome: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    escalation_step: int = 0
    # Who the alert is about, resolved from the login at the time of the alert (issue 4).
    subject: SubjectOut | None = None


class Note(BaseModel):
    id: int
    at: datetime
    author: str
    text: str


class Member(BaseModel):
    device_id: str
    os_user: str
    event_id: str
    severity: int
    joined_at: datetime


class HistoryEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AlertDetail(Alert):
    notes: list[Note]
    cluster_members: list[Member]
    history: list[HistoryEntry]


class AssignBody(BaseModel):
    assignee: str = Field(min_length=1, max_length=320)


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


Outcome = Literal[
    "no_further_action",
    "spoke_with_student",
    "early_help",
    "social_care_referral",
    "prevent_referral",
    "police",
    "false_positive",
]


class CloseBody(BaseModel):
    outcome: Outcome = Field(description="the action taken and its outcome (KCSIE)")
    note: str | None = Field(None, max_length=10_000)


class RulePrecision(BaseModel):
    rule: str
    closed: int
    true_positive: int
    false_positive: int
    open: int
    precision: float | None
    outcomes: dict[str, int]


def _alert(a: AlertRecord) -> Alert:
    return Alert.model_validate(
        {f: getattr(a, f) for f in Alert.model_fields if f not in ("reasons", "subject")}
        | {"reasons": list(a.reasons)}
    )


def _with_subjects(found: list[AlertRecord], directory: DirectoryStore) -> list[Alert]:
    subjects = directory.resolve_many(
        [(a.os_user, a.device_id, a.created_at) for a in found], [a.person_id for a in found]
    )
    return [
        _alert(a).model_copy(update={"subject": SubjectOut.of(s)})
        for a, s in zip(found, subjects, strict=True)
    ]


def _act(fn: Any, *args: Any) -> Alert:
    try:
        return _alert(fn(*args))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except WorkflowError as exc:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT if exc.code == "invalid" else 409
        raise HTTPException(code, str(exc)) from None


# The schema lists the statuses, so a client (and schemathesis) knows what the server accepts.
Status = Literal["new", "acknowledged", "in_progress", "closed"]
assert set(get_args(Status)) == set(STATUSES)
assert set(get_args(Outcome)) == set(OUTCOMES)


@router.get("", response_model=list[Alert])
def list_alerts(
    alerts: AlertsDep,
    _user: SafeguardingUser,
    directory: DirectoryDep,
    status_: Annotated[
        list[Status] | None, Query(alias="status", description="filter by one or more statuses")
    ] = None,
    min_severity: Annotated[int | None, Query(ge=1, le=5)] = None,
    category: str | None = None,
    rule: str | None = None,
    assignee: str | None = None,
    device_id: str | None = None,
    os_user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    include_members: Annotated[
        bool, Query(description="also list alerts folded into a cohort cluster")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Alert]:
    """Alerts, most severe and newest first."""
    # Lantern holds nothing before 2020: an earlier "since" or a far-future "until" is no bound
    # (and year 1 with a UTC offset cannot even be moved to UTC).
    since = since if since is not None and since.year >= 2000 else None
    until = until if until is not None and until.year <= 9998 else None
    f = AlertFilter(
        status=list(status_) if status_ else None,
        min_severity=min_severity,
        category=category,
        rule=rule,
        assignee=assignee,
        device_id=device_id,
        os_user=os_user,
        since=since,
        until=until,
        include_members=include_members,
        limit=limit,
        offset=offset,
    )
    return _with_subjects(alerts.find(f), directory)


@router.get("/precision", response_model=list[RulePrecision])
def rule_precision(
    alerts: AlertsDep, _user: SafeguardingUser, since: datetime | None = None
) -> list[RulePrecision]:
    """Per trigger rule: closed alerts, how many were true or false positives, and precision."""
    return [
        RulePrecision(
            rule=p.rule,
            closed=p.closed,
            true_positive=p.true_positive,
            false_positive=p.false_positive,
            open=p.open,
            precision=p.precision,
            outcomes=p.outcomes,
        )
        for p in alerts.precision(since)
    ]


@router.get("/outcomes")
def outcomes(_user: SafeguardingUser) -> dict[str, str]:
    """The outcomes a close accepts, with their labels."""
    return dict(OUTCOMES)


@router.get("/reports/weekly")
def weekly_report(alerts: AlertsDep, _user: SafeguardingUser) -> dict[str, Any]:
    """The most recent weekly report (as JSON data)."""
    report = alerts.latest_report("weekly")
    if report is None:
        raise HTTPException(404, "no weekly report yet")
    return report


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(alert_id: int, alerts: AlertsDep, _user: SafeguardingUser) -> AlertDetail:
    try:
        a = alerts.get(alert_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return AlertDetail(
        **_alert(a).model_dump(),
        notes=[
            Note(id=n.id, at=n.at, author=n.author, text=n.text) for n in alerts.notes(alert_id)
        ],
        cluster_members=[
            Member(
                device_id=m.device_id,
                os_user=m.os_user,
                event_id=m.event_id,
                severity=m.severity,
                joined_at=m.joined_at,
            )
            for m in alerts.members(alert_id)
        ],
        history=[
            HistoryEntry(seq=h.seq, at=h.at, actor=h.actor, action=h.action, detail=h.detail)
            for h in alerts.history(alert_id)
        ],
    )


class Delivery(BaseModel):
    at: datetime
    event: str
    channel: str
    target: str
    attempt: int
    ok: bool
    detail: str


@router.get("/{alert_id}/deliveries", response_model=list[Delivery])
def deliveries(alert_id: int, alerts: AlertsDep, _user: SafeguardingUser) -> list[Delivery]:
    """Who was notified or paged about this alert, every attempt (webhook URLs shown by host:
    the URL is the secret)."""
    events = {r["id"]: r["event"] for r in alerts.outbox_rows(alert_id)}
    return [
        Delivery(
            at=d["at"],
            event=events.get(d["outbox_id"], ""),
            channel=d["channel"],
            target=d["target"].split("/")[2] if d["target"].startswith("http") else d["target"],
            attempt=d["attempt"],
            ok=d["ok"],
            detail=d["detail"],
        )
        for d in alerts.deliveries(alert_id)
    ]


@router.post("/{alert_id}/acknowledge", response_model=Alert)
def acknowledge(alert_id: int, alerts: AlertsDep, user: SafeguardingUser) -> Alert:
    """new → acknowledged (stops escalation)."""
    return _act(alerts.acknowledge, alert_id, user.email, utcnow())


@router.post("/{alert_id}/assign", response_model=Alert)
def assign(alert_id: int, body: AssignBody, alerts: AlertsDep, user: SafeguardingUser) -> Alert:
    """Assign to a member of staff; the alert moves to in_progress."""
    return _act(alerts.assign, alert_id, body.assignee, user.email, utcnow())


@router.post("/{alert_id}/start", response_model=Alert)
def start(alert_id: int, alerts: AlertsDep, user: SafeguardingUser) -> Alert:
    """acknowledged → in_progress."""
    return _act(alerts.start, alert_id, user.email, utcnow())


@router.post("/{alert_id}/notes", response_model=Note, status_code=201)
def add_note(alert_id: int, body: NoteBody, alerts: AlertsDep, user: SafeguardingUser) -> Note:
    try:
        n = alerts.add_note(alert_id, body.text, user.email, utcnow())
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(422, str(exc)) from None
    return Note(id=n.id, at=n.at, author=n.author, text=n.text)


@router.post("/{alert_id}/close", response_model=Alert)
def close(alert_id: int, body: CloseBody, alerts: AlertsDep, user: SafeguardingUser) -> Alert:
    """Close with a required outcome (and an optional closing note)."""
    return _act(alerts.close, alert_id, body.outcome, user.email, utcnow(), body.note)
