"""What the console shows of callbacks (回访): the attempts on the case page, the form's field
for the time of the call, and the summary a drill-down gives of each case's callbacks.

The attempts are the command centre's record: a resident never sees them (nor their notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.console.i18n import register, translate
from engine.access import Actor
from engine.case.board import account_names
from engine.case.queries import CallbackAttempt, callback_attempts
from engine.vocabulary import CallbackOutcome, CloseReason, Role

register(
    {
        "callback.heading": ("回访记录", "Callbacks"),
        "callback.none": ("尚未回访。", "No callback yet."),
        "callback.n": ("次序", "No."),
        "callback.called_at": ("回访时间", "Called at"),
        "callback.outcome": ("结果", "Outcome"),
        "callback.operator": ("回访人", "Operator"),
        "callback.note": ("回访记录", "Note"),
        "callback.summary": (
            "本轮共回访 {n} 次，无人接听 {days} 天（满 {limit} 天视为无法联系）。",
            "Callbacks on this result: {n}; days without an answer: {days} "
            "(at {limit} the resident counts as unreachable).",
        ),
        "callback.needed": (
            "指挥中心代为评价前，须先有一次接通的回访。",
            "Before the centre records a rating, a callback must have reached the resident.",
        ),
        "callback.in.outcome": ("回访结果", "Outcome of the call"),
        "callback.in.called_at": ("回访时间", "Time of the call"),
        "callback.in.called_at_hint": ("留空即为现在", "Leave empty for now"),
        "callback.in.note": ("回访记录", "Note"),
        "callback.close_reason": ("未评价关闭原因", "Closed unrated because"),
        "callback.drill": ("回访", "Callbacks"),
        "callback.drill_count": ("{n} 次", "calls: {n}"),
        "callback.outcome.reached": ("已接通", "Reached"),
        "callback.outcome.no_answer": ("无人接听", "No answer"),
        "callback.outcome.refused": ("拒绝评价", "Refused to rate"),
        "callback.outcome.wrong_number": ("号码错误", "Wrong number"),
        "callback.close_reason.unrated": ("逾期未评价", "the rating window passed"),
        "callback.close_reason.unreachable": ("无法联系", "the resident could not be reached"),
        "callback.close_reason.refused": ("居民拒绝评价", "the resident declined to rate"),
        "case_page.p.outcome": ("回访结果", "Outcome"),
        "case_page.p.close_reason": ("关闭原因", "Why closed"),
        "case_page.p.attempt": ("回访次序", "Callback no."),
    }
)
OUTCOMES = tuple(CallbackOutcome)


@dataclass(frozen=True)
class CallbackRow:
    """One attempt as the case page lists it."""

    attempt: CallbackAttempt
    operator: str


def callback_rows(session: Session, *, actor: Actor, case_id: int, lang: str) -> list[CallbackRow]:
    """The case's attempts with their operators named (empty for a resident: not theirs)."""
    if actor.role == Role.RESIDENT:
        return []
    attempts = callback_attempts(session, actor=actor, case_id=case_id)
    names = account_names(session, ids={a.operator_id for a in attempts if a.operator_id})
    rows = []
    for a in attempts:
        role = translate(f"role.{a.operator_role}", lang)
        name = names.get(a.operator_id) if a.operator_id is not None else None
        rows.append(CallbackRow(a, f"{name} · {role}" if name else role))
    return rows


def in_zone(value: str, zone: ZoneInfo) -> str:
    """A time typed in the city's zone (a ``datetime-local`` field) with that zone's offset;
    anything that is no such time goes on as typed, for the payload check to name."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def drill_summary(outcome: str | None, attempts: int, reason: str | None, lang: str) -> str:
    """A case's callbacks in a few words for a drill-down row ('' when there were none)."""
    parts = []
    if reason is not None and reason != CloseReason.UNRATED:
        parts.append(translate(f"callback.close_reason.{reason}", lang))
    elif outcome is not None:
        parts.append(translate(f"callback.outcome.{outcome}", lang))
    if attempts:
        parts.append(translate("callback.drill_count", lang, n=attempts))
    return " · ".join(parts)
