"""API tokens: issued once, stored as a SHA-256 hash, revocable; a token names an account's actor.

Tokens are 32 random bytes (URL-safe text), so a fast unsalted hash is enough: there is nothing
to guess. Like the organisation services these write through the caller's session and leave the
commit to the use case that calls them (``whistle accounts create`` makes an account and its
first token in one transaction).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, bindparam, func, literal, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.access import Actor
from engine.db import Base, UTCDateTime
from engine.errors import InvalidInput, NotFound, Unauthenticated
from engine.organisation.models import Account, OrgNode, UnitRegistration
from engine.organisation.service import create_account
from engine.uow import committed
from engine.vocabulary import OrgKind, Role

# Recording every use would be a write per request; a token's last use is kept to this precision.
LAST_USED_PRECISION = timedelta(minutes=5)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, *, account_id: int, now: datetime, name: str = "") -> str:
    """Make a new token for an active account and return it; only its hash is kept."""
    account = session.get(Account, account_id)
    if account is None or not account.active:
        raise NotFound(f"account {account_id} not found")
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(account_id=account_id, token_hash=token_hash(token), name=name, created_at=now)
    )
    session.flush()
    return token


def revoke_token(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    """Revoke a token; revoking twice keeps the first time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return row


def tokens_of(session: Session, *, account_id: int) -> list[ApiToken]:
    """An account's tokens, newest first (hashes only)."""
    stmt = select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id.desc())
    return list(session.scalars(stmt))


_TOKEN_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.last_used_at,
        Account.id,
        Account.role,
        OrgNode.id,
        OrgNode.path,
        OrgNode.kind,
    )
    .join(Account, Account.id == ApiToken.account_id)
    .outerjoin(OrgNode, OrgNode.id == Account.scope_id)
    .where(
        ApiToken.token_hash == bindparam("hash"),
        ApiToken.revoked_at.is_(None),
        Account.active.is_(True),
    )
)


# The same lookup taking the next case id from PostgreSQL's sequence in its round trip (for an
# intake, whose case row then carries its id and chain head from its first write). Evaluated only
# when the token holds; an id taken for an intake that then fails is a gap, as any rollback's is.
_NEXT_CASE_ID = func.nextval(func.pg_get_serial_sequence(literal("cases"), literal("id")))
_TOKEN_LOOKUP_WITH_CASE_ID = _TOKEN_LOOKUP.add_columns(_NEXT_CASE_ID)
_CASE_ID = select(_NEXT_CASE_ID)


def take_case_id(session: Session) -> int | None:
    """PostgreSQL: the id of a case about to be raised, from the cases' sequence (None on
    SQLite, where the writer knows the next id itself). An id taken for a raise that then
    fails is a gap, as any rollback's is."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return None
    return int(conn.execute(_CASE_ID).scalar_one())


def actor_for_token(session: Session, token: str, *, now: datetime | None = None) -> Actor:
    """The actor behind a token, or ``Unauthenticated``.

    With ``now`` given, the token's ``last_used_at`` is brought up to date (to
    ``LAST_USED_PRECISION``) and committed on its own: a use is recorded even when the request
    that made it then fails.
    """
    return _lookup(session, token, now=now, case_id=False)[0]


def actor_and_case_id_for_token(
    session: Session, token: str, *, now: datetime | None = None
) -> tuple[Actor, int | None]:
    """``actor_for_token``, and on PostgreSQL the id of the case the caller is about to raise,
    taken from the cases' sequence in the same round trip (None on SQLite)."""
    return _lookup(session, token, now=now, case_id=True)


def _lookup(
    session: Session, token: str, *, now: datetime | None, case_id: bool
) -> tuple[Actor, int | None]:
    if not token or len(token) > 200:
        raise Unauthenticated("a bearer token is required")
    # One round trip for the token, its account and the node it acts for (columns, not rows:
    # every API request makes it), on the session's connection: the ORM's execution path would
    # add a third to its CPU and has nothing to do here (no entities, nothing to flush).
    conn = session.connection()
    with_id = case_id and conn.dialect.name == "postgresql"
    stmt = _TOKEN_LOOKUP_WITH_CASE_ID if with_id else _TOKEN_LOOKUP
    row = conn.execute(stmt, {"hash": token_hash(token)}).one_or_none()
    if row is None:
        raise Unauthenticated("the token is unknown or revoked")
    token_id, last_used, account_id, role, scope_id, scope_path, scope_kind = row[:7]
    communities: list[int] = []
    if role == Role.UNIT and scope_id is not None:
        stmt = select(UnitRegistration.community_id).where(UnitRegistration.unit_id == scope_id)
        communities = list(conn.scalars(stmt))
    actor = Actor(
        role=Role(role),
        account_id=account_id,
        scope_id=scope_id,
        scope_path=scope_path or "",
        scope_kind=OrgKind(scope_kind) if scope_kind else None,
        communities=frozenset(communities),
    )
    if now is not None and (last_used is None or now - last_used >= LAST_USED_PRECISION):
        with committed(session):
            session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
    return actor, (int(row[7]) if with_id else None)


def open_account(
    session: Session,
    *,
    username: str,
    role: Role,
    scope_code: str | None,
    now: datetime,
    display_name: str = "",
    token_name: str = "",
) -> tuple[Account, str]:
    """Create an account acting for the node with ``scope_code`` and its first token; commit."""
    scope = None
    if scope_code is not None:
        scope = session.scalar(select(OrgNode).where(OrgNode.code == scope_code))
        if scope is None:
            raise InvalidInput(f"scope: no org node has code '{scope_code}'")
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise InvalidInput(f"username: '{username}' is taken")
    with committed(session):
        account = create_account(
            session, username=username, role=role, now=now, scope=scope, display_name=display_name
        )
        token = issue_token(session, account_id=account.id, now=now, name=token_name)
    return account, token
