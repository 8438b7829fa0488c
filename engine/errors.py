"""Named errors of the domain. Each message carries the id and the state it is about.

The faces map each class to one status code in one place (``api/``); nothing here knows HTTP.
"""

from __future__ import annotations


class WhistleError(Exception):
    """Base of every error the engine raises on purpose."""


class NotFound(WhistleError):
    """The thing does not exist, or exists outside the actor's scope (the two look alike)."""


class OutOfScope(NotFound):
    """The actor may not see this: reported as not found so that existence does not leak."""


class Forbidden(WhistleError):
    """The actor sees the thing but its role may not do this."""


class IllegalTransition(WhistleError):
    """The trigger is not allowed from the current state."""


class GuardFailed(IllegalTransition):
    """The trigger exists from this state but a named guard does not hold."""


class StaleVersion(WhistleError):
    """The caller acted on an older version than the one stored: a lost update was prevented."""


class ConcurrentChange(WhistleError):
    """Another writer changed the case (or the organisation) between our read and our write.

    Internal: the one-commit wrapper (``engine/uow.py``) runs the use case again on fresh rows.
    """


class StoreUnavailable(WhistleError):
    """The database connection was lost in the middle of a use case (the server restarted, the
    connection was cut). Before the commit nothing of it was written; lost during the commit,
    whether it was written is not known (``at_commit``), and the caller should read before
    trying again."""

    def __init__(self, message: str, *, at_commit: bool) -> None:
        super().__init__(message)
        self.at_commit = at_commit


class InvalidInput(WhistleError):
    """A payload or argument is wrong; the message names the field."""


class WorkflowError(WhistleError):
    """A workflow definition is invalid; the message names the file and the field."""


class ChainBroken(WhistleError):
    """An audit chain does not verify; the message names the case and the sequence number."""


class LoginFailed(WhistleError):
    """The username and password do not match an active account (which of the two is not said)."""


class SessionExpired(WhistleError):
    """The login session is unknown, ended or past its lifetime."""


class Unauthenticated(WhistleError):
    """No valid credential: the token is missing, unknown, revoked, or its account is inactive."""


class TooLarge(InvalidInput):
    """A file is larger than the configured cap."""


class UnsupportedType(InvalidInput):
    """A file is of a type this deployment does not take (by its declared type)."""


class UnmanagedSchema(WhistleError):
    """The database has tables but no Alembic revision: upgrading would collide with them."""
