"""The REST API reference page: Swagger UI served by the collector (no CDN, no inline script)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """Public, like /openapi.json: the API's shape is no secret, its data is."""
    return page(request, "api_docs.html")
