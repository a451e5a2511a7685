"""The policy editor (dsl and it_admin): keywords, excluded apps, the notice; every change logged."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.store import Store
from collector.web import policy
from collector.web.deps import PolicyUser, StoreDep
from collector.web.templating import page
from lantern.detection.lexicon import CATEGORIES

router = APIRouter(tags=["console"], include_in_schema=False)

Reason = Annotated[str, Form(max_length=1000)]


def _page(request: Request, store: Store, error: str = "", status_code: int = 200) -> Response:
    return page(
        request,
        "policy.html",
        {
            "keywords": policy.keywords(store),
            "excluded_apps": policy.excluded_apps(store),
            "notice_text": policy.notice_text(store),
            "changes": policy.change_log(store),
            "categories": CATEGORIES,
            "error": error,
        },
        status_code=status_code,
    )


def _done(request: Request, store: Store, fn: object, *args: object) -> Response:
    try:
        fn(*args)  # type: ignore[operator]
    except policy.PolicyEditError as exc:
        return _page(request, store, str(exc), 422)
    return RedirectResponse("/policy", status_code=303)


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, store: StoreDep, _user: PolicyUser) -> Response:
    """Keywords added or removed, excluded applications, the notice, and the change history."""
    return _page(request, store)


@router.post("/policy/keywords")
def keyword_add(
    request: Request,
    store: StoreDep,
    user: PolicyUser,
    action: Annotated[str, Form(max_length=8)],
    phrase: Annotated[str, Form(max_length=200)],
    category: Annotated[str, Form(max_length=32)],
    reason: Reason,
    severity: Annotated[int, Form(ge=1, le=5)] = 3,
) -> Response:
    return _done(
        request,
        store,
        policy.add_keyword,
        store,
        user.email,
        action,
        phrase,
        category,
        severity,
        reason,
    )


@router.post("/policy/keywords/{keyword_id}/withdraw")
def keyword_withdraw(
    request: Request, store: StoreDep, user: PolicyUser, keyword_id: int, reason: Reason
) -> Response:
    return _done(request, store, policy.withdraw_keyword, store, user.email, keyword_id, reason)


@router.post("/policy/excluded-apps")
def excluded_app_change(
    request: Request,
    store: StoreDep,
    user: PolicyUser,
    app: Annotated[str, Form(max_length=255)],
    action: Annotated[str, Form(max_length=8)],
    reason: Reason,
) -> Response:
    return _done(
        request, store, policy.change_excluded_app, store, user.email, app, action == "add", reason
    )


@router.post("/policy/notice")
def notice_change(
    request: Request,
    store: StoreDep,
    user: PolicyUser,
    text: Annotated[str, Form(max_length=4000)],
    reason: Reason,
) -> Response:
    return _done(request, store, policy.set_notice_text, store, user.email, text, reason)
