"""Callbacks (回访): the command centre calls the reporter back about a resolved case.

What a 12345 centre does, as rules (pure: they change the loaded unit and read nothing):

* An attempt is recorded by the command centre on a resolved case with its outcome, the time of
  the call and a note. It is a ``callback`` event on the case's chain (who, when, what); the case
  row keeps the current round's summary. Attempts are recorded in the order they were made.
* ``reached``: the resident heard the result. The centre may now record the rating it heard (on a
  hotline case a rating by staff needs this; the resident rating in the app needs none), and no
  further attempt is recorded.
* ``no_answer``: unanswered on as many different local days as the workflow says (three) closes
  the case as unreachable (无法联系). ``wrong_number`` closes it as unreachable at once;
  ``refused`` (the resident declines to rate) closes it as refused at once.
* The rating window that runs out closes the case as unreachable when only unanswered attempts
  were made, else as unrated (逾期未评).
* No closing reason is a rating: the evaluation counts such a case by its verification, never as
  dissatisfied. A redo starts a new round of callbacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.access import Actor
from engine.case.models import Case
from engine.case.payloads import CallbackPayload
from engine.case.unit import CaseUnit
from engine.errors import IllegalTransition, InvalidInput
from engine.subjects import CaseView
from engine.vocabulary import CallbackOutcome, CloseReason, Trigger
from engine.workflow.schema import TriggerSpec

SYSTEM = Actor.system()
_CLOSES_AT_ONCE = {
    CallbackOutcome.WRONG_NUMBER: CloseReason.UNREACHABLE,
    CallbackOutcome.REFUSED: CloseReason.REFUSED,
}


def waits_for_callback(actor: Actor, spec: TriggerSpec, case: CaseView) -> bool:
    """Whether this actor may fire the trigger only after a callback reached the resident."""
    return actor.role in spec.after_callback and case.callback_outcome != CallbackOutcome.REACHED


def check_after_callback(actor: Actor, trigger: str, spec: TriggerSpec, unit: CaseUnit) -> None:
    """Refuse a staff rating before a callback reached the resident (when the state allows it)."""
    if unit.case.state not in unit.workflow.case.sources(trigger):
        return  # the state machine names the real reason
    if waits_for_callback(actor, spec, unit.case):
        raise IllegalTransition(
            f"case {unit.case.id}: a '{trigger}' by the {actor.role} follows a callback that "
            f"reached the resident; record the callback first"
        )


def recorded(unit: CaseUnit, p: CallbackPayload) -> dict[str, Any]:
    """What the attempt's event records besides the payload: its number and the call's time."""
    called_at = p.called_at or unit.now
    return {"attempt": unit.case.callback_attempts + 1, "called_at": called_at.isoformat()}


def apply(unit: CaseUnit, p: CallbackPayload) -> None:
    """Note the attempt on the case; close the case when the attempts say it cannot be rated."""
    case, now = unit.case, unit.now
    called_at = p.called_at or now
    _check_time(case, called_at, now)
    zone = unit.clock_calendar.zone
    if p.outcome == CallbackOutcome.NO_ANSWER:
        before = case.callback_at
        if before is None or before.astimezone(zone).date() != called_at.astimezone(zone).date():
            case.callback_days += 1
    case.callback_attempts += 1
    case.callback_outcome = p.outcome
    case.callback_at = called_at
    reason = _CLOSES_AT_ONCE.get(p.outcome)
    if reason is None and case.callback_days >= unit.workflow.spec.callback.unreachable_after_days:
        reason = CloseReason.UNREACHABLE
    if reason is not None and unit.may_fire_case(Trigger.CLOSE):
        unit.fire_case(SYSTEM, Trigger.CLOSE, {"cause": Trigger.CALLBACK, "close_reason": reason})
        case.closed_at, case.close_reason = now, reason


def _check_time(case: Case, called_at: datetime, now: datetime) -> None:
    if called_at > now:
        raise InvalidInput(
            f"'callback' payload: called_at: {called_at.isoformat()} is in the future "
            f"(it is {now.isoformat()})"
        )
    if case.resolved_at is not None and called_at < case.resolved_at:
        raise InvalidInput(
            f"'callback' payload: called_at: {called_at.isoformat()} is before case {case.id} "
            f"was resolved ({case.resolved_at.isoformat()})"
        )
    if case.callback_at is not None and called_at < case.callback_at:
        raise InvalidInput(
            f"'callback' payload: called_at: {called_at.isoformat()} is before the last attempt "
            f"({case.callback_at.isoformat()}); attempts are recorded in the order made"
        )


def window_close_reason(case: CaseView | Case) -> CloseReason:
    """Why the rating window closes a case: unreachable after unanswered calls, else unrated."""
    unanswered = (CallbackOutcome.NO_ANSWER, CallbackOutcome.WRONG_NUMBER)
    if case.callback_outcome in unanswered:
        return CloseReason.UNREACHABLE
    return CloseReason.UNRATED


def start_round(case: Case) -> None:
    """A redo: the callbacks on the old result say nothing about the new one."""
    case.callback_attempts = case.callback_days = 0
    case.callback_outcome = case.callback_at = None
