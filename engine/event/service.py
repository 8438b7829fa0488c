"""Appending events to a case's hash chain, and verifying every chain.

Each event's hash is SHA-256 over the previous hash and the event's canonical JSON, so editing,
deleting or reordering any row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.db import copy_json, unattached
from engine.event.models import Event

# The chain heads, named here without the case model (events sit below cases).
_CASES = table("cases", column("id"), column("event_count"), column("last_hash"))


class Chained(Protocol):
    """What the chain needs of its case: the id and the head (the case row keeps it)."""

    id: int
    event_count: int
    last_hash: str


# json.dumps with these options builds an encoder per call; one kept encoder writes the same text.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_json(body: Mapping[str, Any]) -> str:
    """The one text form of an event that its hash covers."""
    return _CANONICAL.encode(body)


def _stamp(at: datetime) -> str:
    # The hash covers this text: strftime("%Y-%m-%dT%H:%M:%S.%fZ"). From the year 1000 on,
    # isoformat gives the same (its "+00:00" cut) at a third of the cost; before it, isoformat
    # pads the year.
    utc = at.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def event_body(event: Event) -> dict[str, Any]:
    """The hashed fields of an event, as plain JSON values."""
    return {
        "case_id": event.case_id,
        "seq": event.seq,
        "at": _stamp(event.at),
        "actor_id": event.actor_id,
        "actor_role": str(event.actor_role),
        "trigger": event.trigger,
        "subject": event.subject,
        "assignment_id": event.assignment_id,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "payload": event.payload,
    }


def link_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """SHA-256 of the previous hash followed by the canonical body."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def new_event(
    case: Chained,
    *,
    actor: Actor,
    trigger: str,
    subject: str,
    from_state: str | None,
    to_state: str | None,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    assignment_id: int | None = None,
) -> Event:
    """The next event of the case, not yet linked: ``seal`` gives it its place and hash."""
    return unattached(
        Event,
        {
            "case_id": case.id,
            "at": now,
            "actor_id": actor.account_id,
            "actor_role": actor.role,
            "trigger": str(trigger),
            "subject": str(subject),
            "assignment_id": assignment_id,
            "from_state": from_state,
            "to_state": to_state,
            "payload": _plain_payload(payload),
        },
    )


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    """Whether ``value`` is already what a JSON round trip gives back: exact built-in types only
    (a str subclass such as a StrEnum, a tuple or a non-str key would come back changed)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def _plain_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload as plain JSON values, copied: a payload of plain values is copied as it is,
    anything else goes through JSON (values it cannot encode become their text)."""
    given = dict(payload or {})
    if _plain(given):
        copied: dict[str, Any] = copy_json(given)
        return copied
    loaded: dict[str, Any] = json.loads(json.dumps(given, ensure_ascii=False, default=str))
    return loaded


def seal(case: Chained, events: Iterable[Event]) -> None:
    """Link ``events`` onto the case's chain in order, moving the chain's head on the case."""
    # The head is carried in locals and put on the case once: rows' attributes cost more to
    # read and write than locals, and a move seals one or two events each time.
    case_id, count, head = case.id, case.event_count, case.last_hash
    for event in events:
        count += 1
        event.case_id = case_id
        event.seq = count
        event.prev_hash = head
        head = event.hash = link_hash(head, event_body(event))
    if count != case.event_count:
        case.event_count = count
        case.last_hash = head


@dataclass(frozen=True)
class BrokenLink:
    case_id: int
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"case {self.case_id} event {self.seq}: {self.reason}"


def verify_chains(session: Session, *, case_id: int | None = None) -> Iterator[BrokenLink]:
    """Yield the first broken link of each case whose chain does not verify."""
    heads = select(_CASES.c.id, _CASES.c.event_count, _CASES.c.last_hash).order_by(_CASES.c.id)
    events = select(Event).order_by(Event.case_id, Event.seq)
    if case_id is not None:
        heads = heads.where(_CASES.c.id == case_id)
        events = events.where(Event.case_id == case_id)
    head_of = {cid: (count, last) for cid, count, last in session.execute(heads)}
    current: int | None = None
    prev, expected_seq, broken = "", 1, False
    seen: set[int] = set()
    for event in session.scalars(events.execution_options(yield_per=2000)):
        if event.case_id != current:
            if current is not None and not broken:
                yield from _check_head(current, expected_seq - 1, prev, head_of)
            current, prev, expected_seq, broken = event.case_id, "", 1, False
            seen.add(event.case_id)
        if broken:
            continue
        reason = _link_problem(event, prev, expected_seq)
        if reason:
            broken = True
            yield BrokenLink(event.case_id, event.seq, reason)
            continue
        prev, expected_seq = event.hash, expected_seq + 1
    if current is not None and not broken:
        yield from _check_head(current, expected_seq - 1, prev, head_of)
    for cid, (count, _) in head_of.items():
        if cid not in seen and count:
            yield BrokenLink(cid, 1, f"the case records {count} events but none is stored")


def _link_problem(event: Event, prev: str, expected_seq: int) -> str | None:
    if event.seq != expected_seq:
        return f"sequence jumps from {expected_seq - 1} to {event.seq} (an event is missing)"
    if event.prev_hash != prev:
        return "prev_hash does not match the hash of the event before it"
    if link_hash(prev, event_body(event)) != event.hash:
        return "content does not match its hash (the row was edited)"
    return None


def _check_head(
    case_id: int, last_seq: int, last_hash: str, heads: Mapping[int, tuple[int, str]]
) -> Iterator[BrokenLink]:
    count, head = heads.get(case_id, (last_seq, last_hash))
    if count != last_seq or head != last_hash:
        yield BrokenLink(
            case_id, last_seq + 1, f"the case records {count} events; the chain ends at {last_seq}"
        )
