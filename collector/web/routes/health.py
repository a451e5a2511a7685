"""Liveness for load balancers and service managers; metrics for IT's monitoring."""

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from collector.web.deps import AdminUser, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict[str, str]:
    """200 when the database answers."""
    try:
        store.count_devices()
    except SQLAlchemyError as exc:
        raise HTTPException(503, "database unavailable") from exc
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request, store: StoreDep, _user: AdminUser) -> Response:
    """Prometheus metrics (an IT admin's API token as the scrape's bearer token): ingest,
    streams, devices by connection, the notification outbox, job freshness. No alert data."""
    from collector import metrics as m

    m.watch_database(store.engine, request.app.state.heartbeat)  # type: ignore[attr-defined]
    return Response(m.exposition(), media_type=m.CONTENT_TYPE)
