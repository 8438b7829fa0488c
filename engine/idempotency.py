"""Idempotent intake: a client's retry of "raise this case" returns the first case, never a second.

A key is scoped to the account that sent it. The key row and the case are written in one
transaction, and the key is unique per account, so two concurrent retries cannot both create a
case: the loser's insert fails and it answers with the winner's case. The same key with a
different body is a client error (the fingerprint of the first body is kept to tell).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.access import Actor
from engine.case import service as case_service
from engine.case.models import Case
from engine.case.service import CaseDraft
from engine.db import Base, UTCDateTime
from engine.errors import InvalidInput
from engine.runtime import Runtime
from engine.uow import use_case

MAX_KEY_LENGTH = 200


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("account_id", "key"),)


def fingerprint(draft: CaseDraft) -> str:
    """SHA-256 of the draft's canonical JSON: equal drafts, equal fingerprints."""
    body = json.dumps(
        draft.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _replay(session: Session, account_id: int, key: str, print_: str) -> Case | None:
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key
        )
    )
    if row is None:
        return None
    if row.fingerprint != print_:
        raise InvalidInput(
            f"Idempotency-Key: '{key}' was first used for case {row.case_id} with a different "
            "body; use a new key for a new case"
        )
    return session.get(Case, row.case_id, populate_existing=True)


@use_case
def _raise_and_remember(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    draft: CaseDraft,
    account_id: int,
    key: str,
    print_: str,
    now: datetime,
) -> Case:
    case = case_service.raise_in_transaction(
        session=session, rt=rt, actor=actor, draft=draft, now=now
    )
    session.add(
        IdempotencyKey(
            account_id=account_id, key=key, fingerprint=print_, case_id=case.id, created_at=now
        )
    )
    return case


def _check_key(actor: Actor, key: str) -> int:
    if actor.account_id is None:
        raise InvalidInput("Idempotency-Key: keys belong to an account; the system has none")
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key: 1..{MAX_KEY_LENGTH} printable characters")
    return actor.account_id


def first_case(*, session: Session, actor: Actor, draft: CaseDraft, key: str) -> Case | None:
    """The case this actor's key already raised (for this very draft), or None."""
    return _replay(session, _check_key(actor, key), key, fingerprint(draft))


def raise_case_once(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    draft: CaseDraft,
    key: str,
    now: datetime,
) -> tuple[Case, bool]:
    """Raise a case unless this actor's key already raised one; says whether it is new."""
    account_id = _check_key(actor, key)
    print_ = fingerprint(draft)
    first = _replay(session, account_id, key, print_)
    if first is not None:
        return first, False
    try:
        case = _raise_and_remember(
            session=session, rt=rt, actor=actor, draft=draft,
            account_id=account_id, key=key, print_=print_, now=now,
        )  # fmt: skip
    except IntegrityError:
        # A concurrent request with the same key won the race; answer with its case.
        first = _replay(session, account_id, key, print_)
        if first is None:
            raise
        return first, False
    return case, True
