"""Liveness for load balancers and service managers."""

from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import SQLAlchemyError

from collector.web.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict[str, str]:
    """200 when the database answers."""
    try:
        store.count_devices()
    except SQLAlchemyError as exc:
        raise HTTPException(503, "database unavailable") from exc
    return {"status": "ok"}
