"""Named errors of the faces (HTTP and console); ``api/problems.py`` maps each to one answer.

A leaf module: the limiter, the dependencies and the console raise these without importing the
problem table, so that no module of ``api/`` imports one that imports it back.
"""

from __future__ import annotations

from engine.errors import Forbidden, WhistleError


class RateLimited(WhistleError):
    """A client raised more cases in the window than the intake limit allows."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(WhistleError):
    """Something this request needs (Redis) is down; the answer says when to try again."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BodyTooLarge(WhistleError):
    """The request body is over the configured cap."""


class UnsupportedMediaType(WhistleError):
    """The request body comes in a media type the operation does not take."""


class MalformedRequest(WhistleError):
    """The request cannot be read at all (e.g. the body is not JSON)."""


class LoginRequired(WhistleError):
    """The page needs a live login session; the visitor is sent to log in, then back."""

    login_redirect = True  # answered with a redirect to the login page, and logged as nothing

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__("log in to see this page")
        self.next_path = next_path
        self.expired = expired


class CsrfFailed(Forbidden):
    """A form came without this session's CSRF token, or from another site."""
