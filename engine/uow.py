"""The one-commit wrapper of every use case: commit once on success, roll back on any error.

It imports no domain: a use case that finds its case changed under it (the version-guarded write
matched no row) raises ``ConcurrentChange``, and the whole use case runs again on fresh rows —
where the caller's own expected version, if given, is checked anew, so a real conflict still
surfaces as ``StaleVersion``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import ConcurrentChange, StaleVersion

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
                session.commit()
                return result
            except (ConcurrentChange, StaleDataError) as exc:
                session.rollback()
                if attempt == _ATTEMPTS:
                    raise StaleVersion(f"the case kept changing under {fn.__name__}") from exc
            except BaseException:
                session.rollback()
                raise
        raise AssertionError("unreachable")

    return run


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """Commit what the block wrote, once; roll back on any error (and let it through).

    For the writes that are no case move — a login, a token's last use, a claim of due steps, an
    import batch — so that every commit of the engine still happens here.
    """
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
