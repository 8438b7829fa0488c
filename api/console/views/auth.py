"""Logging in and out, and the language switch.

The login form is protected by a double-submitted token (a cookie and a hidden field that must
agree) since there is no session yet; logging out and switching language are forms like any other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    FormDep,
    VisitorDep,
    get_visitor,
    login_csrf_ok,
    new_login_csrf,
    safe_next,
    text_field,
)
from api.console.i18n import pick_lang
from api.console.web import LANG_COOKIE, home_for, render
from api.deps import ClockDep, SessionDep
from api.errors import LoginRequired, RateLimited, ServiceUnavailable
from engine.errors import LoginFailed
from engine.login import Visitor, log_in, log_out, purge_sessions

router = APIRouter(prefix="/console", include_in_schema=False)
YEAR = 365 * 24 * 3600


def secure_cookie(request: Request) -> bool:
    """Whether the session cookie carries ``Secure`` (see ``WHISTLE_CONSOLE_SECURE_COOKIE``)."""
    forced = request.app.state.settings.console_secure_cookie
    return forced if forced is not None else request.url.scheme == "https"


def _login_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200,
    username: str = "", notice: str | None = None,
) -> HTMLResponse:  # fmt: skip
    token = new_login_csrf()
    page = render(
        request, None, "login.html", status_code=status_code, csrf=token,
        next_path=next_path, error=error, username=username, notice=notice,
    )  # fmt: skip
    page.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, path="/console", httponly=True,
        samesite="strict", secure=secure_cookie(request),
    )  # fmt: skip
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None,
    expired: bool = False,
    out: bool = False,
) -> HTMLResponse:
    """The login page."""
    notice = "auth.expired" if expired else "auth.logged_out" if out else None
    return _login_page(request, next_path=safe_next(next_path), notice=notice)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Check the password; on success set the session cookie and go where the visitor was going."""
    form = await request.form()
    next_path = safe_next(text_field(form, "next"))
    username = text_field(form, "username")[:100]
    password = form.get("password")
    if not login_csrf_ok(request, form):
        return _login_page(request, next_path=next_path, error="error.csrf", status_code=403,
                           username=username)  # fmt: skip
    login_limiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    try:
        login_limiter.hit(username=username, address=address, now=clock.now().timestamp())
    except RateLimited:
        return _login_page(request, next_path=next_path, error="auth.throttled", status_code=429,
                           username=username)  # fmt: skip
    except ServiceUnavailable:
        return _login_page(request, next_path=next_path, error="auth.unavailable",
                           status_code=503, username=username)  # fmt: skip
    try:
        secret = password if isinstance(password, str) else ""
        made = log_in(session, username=username, password=secret, now=clock.now())
    except LoginFailed:
        return _login_page(request, next_path=next_path, error="auth.failed", status_code=401,
                           username=username)  # fmt: skip
    purge_sessions(session, now=clock.now())
    target = next_path if next_path != "/console" else home_for(made.account.role)
    answer = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    lifetime = int((made.session.expires_at - made.session.created_at).total_seconds())
    answer.set_cookie(
        SESSION_COOKIE, made.token, max_age=lifetime, path="/console", httponly=True,
        samesite="lax", secure=secure_cookie(request),
    )  # fmt: skip
    answer.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return answer


@router.post("/logout")
def logout(visitor: VisitorDep, form: FormDep, session: SessionDep, clock: ClockDep) -> Response:
    """End the session and forget the cookie."""
    log_out(session, session_id=visitor.session_id, now=clock.now())
    answer = RedirectResponse("/console/login?out=1", status_code=status.HTTP_303_SEE_OTHER)
    answer.delete_cookie(SESSION_COOKIE, path="/console")
    return answer


def _optional_visitor(request: Request, session: SessionDep, clock: ClockDep) -> Visitor | None:
    try:
        return get_visitor(request, session, clock)
    except LoginRequired:  # not logged in is fine here
        return None


@router.post("/lang")
async def switch_language(
    request: Request, visitor: Annotated[Visitor | None, Depends(_optional_visitor)]
) -> Response:
    """Remember the chosen language and go back to the page the switch was on."""
    form = await request.form()
    ok = (
        visitor.csrf_ok(text_field(form, "csrf_token")) if visitor else login_csrf_ok(request, form)
    )
    back = safe_next(text_field(form, "next"))
    if not ok:
        back = "/console/login"
    answer = RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)
    if ok:
        lang = pick_lang(text_field(form, "lang"))
        answer.set_cookie(LANG_COOKIE, lang, max_age=YEAR, path="/console", samesite="lax")
    return answer


@router.get("")
def start(visitor: VisitorDep) -> Response:
    """The console's start page is the visitor's first menu item."""
    return RedirectResponse(home_for(visitor.actor.role), status_code=status.HTTP_303_SEE_OTHER)
