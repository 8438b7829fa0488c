"""Console logins: argon2id password hashes and server-side login sessions.

A login session is a row: the browser holds only a random token (its SHA-256 is stored, as for API
tokens), so logging out or deactivating an account ends the session at once. Each session carries
its own CSRF token, which every form of the console must send back.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.access import Actor
from engine.auth import token_hash
from engine.db import Base, UTCDateTime
from engine.errors import InvalidInput, LoginFailed, NotFound, SessionExpired
from engine.organisation.models import Account
from engine.organisation.service import actor_for_account
from engine.uow import committed

# OWASP's minimum for argon2id: 19 MiB, 2 passes, one lane.
PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 10
MAX_PASSWORD = 200  # argon2 takes any length; this caps the work one request can ask for
SESSION_LIFETIME = timedelta(hours=12)  # one working shift; then log in again
# Touching a session on every page would be a write per page; it is kept to this precision.
SEEN_PRECISION = timedelta(minutes=5)
# A hash of a random password: an unknown user costs the same time as a wrong password.
_DUMMY_HASH = PASSWORDS.hash(secrets.token_urlsafe(16))


class LoginSession(Base):
    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def hash_password(password: str, *, hasher: PasswordHasher = PASSWORDS) -> str:
    """The stored form of a password (argon2id, salted)."""
    return hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches a hash made by ``hash_password``."""
    try:
        return PASSWORDS.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, *, username: str, password: str, now: datetime) -> Account:
    """Give an account a new console password and end its open sessions; commit."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"no account '{username}'")
    with committed(session):
        account.password_hash = hash_password(password)
        session.execute(
            update(LoginSession)
            .where(LoginSession.account_id == account.id, LoginSession.ended_at.is_(None))
            .values(ended_at=now)
        )
    return account


@dataclass(frozen=True)
class Login:
    """A session just opened: the token for the cookie (shown once) and the row."""

    token: str
    session: LoginSession
    account: Account


def log_in(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
) -> Login:
    """Check the password of an active account and open a login session; commit.

    ``LoginFailed`` for an unknown user, a wrong password or an inactive account alike, after the
    same argon2 work, so the answer tells nothing about which usernames exist.
    """
    username = username.strip()
    if not username or len(username) > 100 or not password or len(password) > MAX_PASSWORD:
        raise LoginFailed("the username or password is wrong")
    account = session.scalar(select(Account).where(Account.username == username))
    stored = account.password_hash if account is not None else None
    matched = verify_password(stored or _DUMMY_HASH, password)
    if account is None or not account.active or stored is None or not matched:
        raise LoginFailed("the username or password is wrong")
    if PASSWORDS.check_needs_rehash(stored):
        account.password_hash = hash_password(password)
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        account_id=account.id, token_hash=token_hash(token), csrf_token=secrets.token_urlsafe(32),
        created_at=now, expires_at=now + lifetime, last_seen_at=now,
    )  # fmt: skip
    with committed(session):
        session.add(row)
    return Login(token, row, account)


@dataclass(frozen=True)
class Visitor:
    """Who a session cookie belongs to: the actor, the account and the session's CSRF token."""

    actor: Actor
    account: Account
    session_id: int
    csrf_token: str
    expires_at: datetime

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether a form sent this session's CSRF token (compared in constant time)."""
        return bool(sent) and hmac.compare_digest(self.csrf_token, sent or "")


def visitor_for(session: Session, token: str | None, *, now: datetime) -> Visitor:
    """The visitor of a session cookie, or ``SessionExpired``; records the visit (coarsely)."""
    if not token or len(token) > 200:
        raise SessionExpired("not logged in")
    found = session.execute(
        select(LoginSession, Account)
        .join(Account, Account.id == LoginSession.account_id)
        .where(LoginSession.token_hash == token_hash(token))
    ).one_or_none()
    if found is None:
        raise SessionExpired("not logged in")
    row, account = found
    if row.ended_at is not None or row.expires_at <= now or not account.active:
        raise SessionExpired("the session has ended; log in again")
    visitor = Visitor(
        actor_for_account(session, account.id), account, row.id, row.csrf_token, row.expires_at
    )
    if now - row.last_seen_at >= SEEN_PRECISION:
        with committed(session):
            session.execute(
                update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=now)
            )
    return visitor


def log_out(session: Session, *, session_id: int, now: datetime) -> None:
    """End a login session (ending it twice keeps the first time); commit."""
    with committed(session):
        session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
            .values(ended_at=now)
        )


def purge_sessions(session: Session, *, now: datetime) -> int:
    """Delete sessions that ended or expired more than a day ago; commit; how many went."""
    old = now - timedelta(days=1)
    with committed(session):
        result = session.execute(
            delete(LoginSession).where(
                (LoginSession.expires_at < old)
                | (LoginSession.ended_at.is_not(None) & (LoginSession.ended_at < old))
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
