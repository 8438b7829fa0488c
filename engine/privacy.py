"""Reporters' personal data: who sees it in clear, and how it is masked for everyone else.

The name and phone of a reporter are shown in clear only to the command centre whose area holds
the case, to the case's lead department, and to the reporting resident; everyone else (assisting
departments, assessors, grid workers, admins) sees ``138****1234`` and ``张*``. Assessors read a
case's own text (title, description, address) redacted of personal data (``engine.redaction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.access import Actor
from engine.redaction import redact
from engine.subjects import AssignmentView, CaseView
from engine.vocabulary import Role
from engine.workflow.guards import active_lead

MASK = "*"


def may_see_reporter(actor: Actor, case: CaseView, assignments: Sequence[AssignmentView]) -> bool:
    """Whether the actor sees the reporter's name and phone in clear."""
    match actor.role:
        case Role.COMMAND_CENTRE:
            return bool(actor.scope_path) and case.area_path.startswith(actor.scope_path)
        case Role.DEPARTMENT | Role.UNIT:
            lead = active_lead(assignments)
            return lead is not None and lead.org_id == actor.scope_id
        case Role.RESIDENT:
            return actor.account_id is not None and case.reporter_account_id == actor.account_id
        case Role.SYSTEM:
            return True
        case Role.ADMIN | Role.GRID | Role.ASSESSOR:
            return False
        case _:
            raise AssertionError(f"no privacy rule for role {actor.role}")


def mask_phone(phone: str | None) -> str | None:
    """Keep the first three and last four digits: ``13812341234`` → ``138****1234``."""
    if phone is None:
        return None
    digits = [c for c in phone if c.isdigit()]
    if len(digits) == 13 and digits[:2] == ["8", "6"]:
        digits = digits[2:]  # +86, China's country code: mask the mobile number itself
    if len(digits) <= 7:
        # Too short to keep both ends without revealing most of it.
        return MASK * len(digits) if digits else MASK * 4
    return "".join(digits[:3]) + MASK * (len(digits) - 7) + "".join(digits[-4:])


def mask_name(name: str | None) -> str | None:
    """Keep the first character (the surname, in a Chinese name): ``张三丰`` → ``张**``."""
    if name is None:
        return None
    name = name.strip()
    if len(name) <= 1:
        return MASK if name else name
    return name[0] + MASK * (len(name) - 1)


def reporter_view(
    actor: Actor, case: CaseView, assignments: Sequence[AssignmentView]
) -> tuple[str | None, str | None]:
    """The reporter's (name, phone) as this actor may see them."""
    if may_see_reporter(actor, case, assignments):
        return case.reporter_name, case.reporter_phone
    return mask_name(case.reporter_name), mask_phone(case.reporter_phone)


def reads_text_redacted(actor: Actor) -> bool:
    """Whether a case's free text reaches this actor redacted of personal data.

    Assessors judge how a case was handled, never act on it, and what they read goes into
    reports and spreadsheets that travel further; the phone numbers and ID card numbers residents
    type into a complaint are of no use to them.
    """
    return actor.role == Role.ASSESSOR


def case_text(actor: Actor, text: str | None) -> str | None:
    """A case's free text as this actor may read it (redacted for assessors); none stays none."""
    if text is None or not reads_text_redacted(actor):
        return text
    return redact(text)


def redacted_payload(value: Any) -> Any:
    """An event's payload with every text in it redacted (numbers, flags and ids kept)."""
    match value:
        case str():
            return redact(value)
        case dict():
            return {key: redacted_payload(item) for key, item in value.items()}
        case list() | tuple():
            return [redacted_payload(item) for item in value]
        case _:
            return value
