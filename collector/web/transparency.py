"""The public transparency page: what Lantern monitors, for students, parents and staff.

No sign-in. Generated from the live policy (notice text, excluded apps, capture settings) and the
retention periods in force, so it cannot say something the system does not do. It names the
categories watched, never the individual terms (a published term list teaches evasion).
"""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.retention import RETENTION_DAYS
from collector.web import policy
from collector.web.deps import StoreDep
from collector.web.templating import page

router = APIRouter(tags=["transparency"])

# In the UK Safer Internet Centre's monitoring categories, in words a 16-year-old and a parent read.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("suicide", "thoughts of suicide, or searching for ways to end one's life"),
    ("self_harm", "self-harm, and searching for ways to hurt oneself"),
    ("cse", "signs of grooming or sexual exploitation, such as requests for secrecy or images"),
    ("bullying", "bullying and threats towards others"),
    ("violence", "violence and weapons, including knife crime"),
    ("extremism", "radicalisation and extremist material"),
    ("drugs", "drugs, including county-lines recruitment"),
    ("gambling", "gambling sites"),
    ("pornography", "pornography sites"),
    ("discrimination", "hate and discrimination"),
    ("illegal", "content that is illegal to view"),
    ("offensive", "offensive language (logged at low priority, rarely seen by staff)"),
)


def _days(name: str) -> str:
    days = RETENTION_DAYS[name]
    return f"{days // 365} years" if days >= 730 else f"{days} days"


@router.get("/transparency", response_class=HTMLResponse)
def transparency(request: Request, store: StoreDep) -> HTMLResponse:
    """What is monitored, what leaves the device, who sees alerts, how long data is kept."""
    return page(
        request,
        "transparency.html",
        {
            "notice": policy.notice_text(store),
            "excluded_apps": policy.excluded_apps(store),
            "categories": CATEGORIES,
            "retention": {
                "window": _days("window_events"),
                "matches": _days("match_events"),
                "alerts": _days("closed_alerts"),
                "false_positives": _days("false_positives"),
            },
            "contact": getattr(getattr(request.app.state, "settings", None), "dsl_contact", ""),
        },
    )
