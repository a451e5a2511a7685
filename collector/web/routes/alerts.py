"""Alerts: safeguarding staff only (IT and trustees never see alert content)."""

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from collector.web.deps import SafeguardingUser, StoreDep

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


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


@router.get("", response_model=list[Alert])
def list_alerts(
    store: StoreDep,
    _user: SafeguardingUser,
    status: str | None = Query(None, description="new, acknowledged, in_progress or closed"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[Alert]:
    """Alerts, most severe and newest first."""
    return [
        Alert.model_validate(a, from_attributes=True)
        for a in store.list_alerts(status=status, limit=limit)
    ]
