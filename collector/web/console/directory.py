"""The directory page (dsl, it_admin): imports, groups, special and unresolved logins.

IT keeps the people directory healthy from here — upload the MIS/Entra/Google export, see what
each import changed (counts), map or declare OS logins that match no one. It shows logins and
counts, never a student's name, date of birth or alerts: those stay on the DSL's pages.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from collector.clock import utcnow
from collector.directory.importers import ExportError, MappingError
from collector.directory.people import ImportReport
from collector.directory.routes import MAX_UPLOAD_BYTES, DirectoryDep, run_people_import
from collector.web.deps import AdminUser, FleetUser
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)

FORMATS = ("mis", "entra", "google", "plain")
UNRESOLVED_DAYS = 7


@router.get("/directory", response_class=HTMLResponse)
def directory_page(request: Request, directory: DirectoryDep, _user: FleetUser) -> Response:
    """What the directory holds and where it needs IT's attention."""
    return _page(request, directory)


@router.post("/directory/import", response_class=HTMLResponse)
async def directory_import(
    request: Request,
    directory: DirectoryDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form(max_length=16)] = "mis",
    dry_run: Annotated[bool, Form()] = False,
) -> Response:
    """Import a people export (IT); the page shows the report, a dry run changes nothing."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if format not in FORMATS:
        return _page(request, directory, error=f"Unknown format {format!r}.", status_code=422)
    if len(data) > MAX_UPLOAD_BYTES:
        return _page(request, directory, error="The file is larger than 50 MB.", status_code=413)
    try:
        report = await run_people_import(
            directory, data, format, file.filename or "", user.email, dry_run=dry_run
        )
    except (ExportError, MappingError) as exc:
        return _page(request, directory, error=f"Import refused: {exc}", status_code=422)
    return _page(request, directory, report=report, status_code=409 if report.refused else 200)


def _page(
    request: Request,
    directory: DirectoryDep,
    *,
    report: ImportReport | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    since = utcnow() - timedelta(days=UNRESOLVED_DAYS)
    response = page(
        request,
        "directory.html",
        {
            "imports": directory.recent_imports(),
            "groups": directory.list_groups(),
            "special": directory.list_special_logins(),
            "unresolved": directory.unresolved_logins(since),
            "unresolved_days": UNRESOLVED_DAYS,
            "formats": FORMATS,
            "report": report,
            "error": error,
        },
    )
    response.status_code = status_code
    return response
