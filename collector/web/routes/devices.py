"""Devices: fleet health for IT and safeguarding staff."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from collector.web.deps import FleetUser, StoreDep

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


class Device(BaseModel):
    id: str
    hostname: str
    hardware_serial: str
    os: str
    os_version: str
    agent_version: str
    group_name: str | None
    enrolled_at: datetime
    last_seen_at: datetime | None
    last_event_at: datetime | None
    capabilities: dict[str, str]
    spool_depth: int
    revoked: bool


@router.get("", response_model=list[Device])
def list_devices(store: StoreDep, _user: FleetUser) -> list[Device]:
    """Every enrolled device with what it last reported."""
    return [Device.model_validate(d, from_attributes=True) for d in store.list_devices()]
