"""The FastAPI application: REST API under /api/v1, health, OpenAPI docs at /docs."""

from fastapi import FastAPI

from collector.store import Store
from collector.web.routes import alerts, devices, health


def create_app(store: Store) -> FastAPI:
    app = FastAPI(
        title="Lantern collector",
        version="1",
        description="Safeguarding alerts, fleet health and monitoring coverage.",
    )
    app.state.store = store
    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(devices.router)
    return app
