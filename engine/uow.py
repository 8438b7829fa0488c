"""The one-commit wrapper of every use case: commit once on success, roll back on any error.

It imports no domain: a use case that finds its case changed under it (the version-guarded write
matched no row) raises ``ConcurrentChange``, and the whole use case runs again on fresh rows —
where the caller's own expected version, if given, is checked anew, so a real conflict still
surfaces as ``StaleVersion``. A database connection lost on the way is ``StoreUnavailable``, never
retried here: lost during the commit, the write may have been made, and only the caller can tell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.db import begin_writes
from engine.errors import ConcurrentChange, StaleVersion, StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")
_ATTEMPTS = 3


def use_case(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` in the caller's session and commit once; retry on a concurrent change."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                result = fn(*args, **kwargs)
                _commit(session, fn.__name__)
                return result
            except (ConcurrentChange, StaleDataError) as exc:
                session.rollback()
                if attempt == _ATTEMPTS:
                    raise StaleVersion(f"the case kept changing under {fn.__name__}") from exc
            except DBAPIError as exc:
                session.rollback()
                if exc.connection_invalidated:
                    raise lost(fn.__name__, at_commit=False) from exc
                raise
            except BaseException:
                session.rollback()
                raise
        raise AssertionError("unreachable")

    return run


def _commit(session: Session, what: str | None) -> None:
    try:
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        if exc.connection_invalidated:
            raise lost(what, at_commit=True) from exc
        raise


def lost(what: str | None, *, at_commit: bool) -> StoreUnavailable:
    """The error for a database connection lost under ``what``, before or during its commit."""
    prefix = f"{what}: " if what else ""
    if at_commit:
        return StoreUnavailable(
            f"{prefix}the database connection was lost while committing; the change may or may "
            "not have been made: read it again before retrying",
            at_commit=True,
        )
    return StoreUnavailable(
        f"{prefix}the database connection was lost; nothing was written, try again",
        at_commit=False,
    )


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """Commit what the block wrote, once; roll back on any error (and let it through).

    For the writes that are no case move — a login, a token's last use, a claim of due steps, an
    import batch — so that every commit of the engine still happens here. On a connection in
    autocommit (``engine.db.reads_autocommit``) the block's writes are put in a transaction.
    """
    try:
        begin_writes(session)
        yield session
    except DBAPIError as exc:
        session.rollback()
        if exc.connection_invalidated:
            raise lost(None, at_commit=False) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    _commit(session, None)
