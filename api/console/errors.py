"""Errors on console pages answer as pages, in the visitor's language, never as JSON."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from api.console.deps import SESSION_COOKIE, login_url
from api.errors import CsrfFailed, LoginRequired
from engine.errors import SessionExpired
from engine.login import Visitor, visitor_for


def error_page(
    request: Request, exc: BaseException, status_code: int, detail: str | None
) -> Response:
    """The page for an error raised under ``/console``."""
    from api.console.web import render  # the templates load only when a page is drawn

    if isinstance(exc, LoginRequired):
        url = login_url(exc.next_path) + ("&expired=1" if exc.expired else "")
        return RedirectResponse(url, status_code=303)
    key = "error.csrf" if isinstance(exc, CsrfFailed) else f"error.{status_code}"
    if status_code >= 500:
        key, detail = "error.500", None
    elif status_code == 404:
        detail = None  # "not found" is all a visitor may learn about a case outside its scope
    page: HTMLResponse = render(
        request, _visitor(request), "error.html", status_code=status_code, message=key,
        detail=detail,
    )  # fmt: skip
    return page


def _visitor(request: Request) -> Visitor | None:
    """The logged-in visitor, so an error page keeps the menu; None when there is none."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        with request.app.state.session_factory() as session:
            return visitor_for(session, token, now=request.app.state.clock.now())
    except (SessionExpired, SQLAlchemyError):
        return None
