"""What console routes receive: the logged-in visitor and a form whose CSRF token was checked.

A page asked for without a live session redirects to the login page (and back afterwards); a
form posted without this session's CSRF token, or from another origin, is refused with 403 and
changes nothing.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from api.deps import ClockDep, SessionDep
from engine.errors import Forbidden, WhistleError
from engine.login import SessionExpired, Visitor, visitor_for

SESSION_COOKIE = "whistle_session"
LOGIN_CSRF_COOKIE = "whistle_login_csrf"


class LoginRequired(WhistleError):
    """The page needs a live login session; the visitor is sent to log in, then back."""

    login_redirect = True  # answered with a redirect to the login page, and logged as nothing

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__("log in to see this page")
        self.next_path = next_path
        self.expired = expired


class CsrfFailed(Forbidden):
    """A form came without this session's CSRF token, or from another site."""


def safe_next(value: str | None) -> str:
    """A path to return to after logging in: only a console path of this site."""
    if not value or not value.startswith("/console") or value.startswith("//"):
        return "/console"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/console"
    return value


def login_url(next_path: str) -> str:
    return f"/console/login?next={quote(next_path, safe='/')}"


def get_visitor(request: Request, session: SessionDep, clock: ClockDep) -> Visitor:
    """The visitor of the session cookie, or ``LoginRequired``."""
    token = request.cookies.get(SESSION_COOKIE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        return visitor_for(session, token, now=clock.now())
    except SessionExpired:
        raise LoginRequired(here, expired=token is not None) from None


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


def _same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must name this site when it sends one."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return sent is None
    parts = urlsplit(sent)
    return parts.netloc == request.headers.get("host", request.url.netloc)


async def checked_form(request: Request, visitor: VisitorDep) -> FormData:
    """The posted form, once its CSRF token matches the session's and its origin is ours."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not _same_origin(request) or not visitor.csrf_ok(sent if isinstance(sent, str) else None):
        raise CsrfFailed("the form's CSRF token is missing or wrong; reload the page")
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def new_login_csrf() -> str:
    """A fresh token for the login form (double-submitted: cookie and field must agree)."""
    return secrets.token_urlsafe(24)


def login_csrf_ok(request: Request, form: FormData) -> bool:
    """Whether the login form's token matches its cookie and the form came from this site."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    sent = form.get("csrf_token")
    return (
        _same_origin(request)
        and bool(cookie)
        and isinstance(sent, str)
        and secrets.compare_digest(cookie, sent)
    )


def text_field(form: FormData, name: str, *, default: str = "") -> str:
    """A text field of a form, stripped (a file where text belongs counts as empty)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default
