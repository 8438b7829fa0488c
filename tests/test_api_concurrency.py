"""Concurrent clients against a real uvicorn server on loopback (not the in-process TestClient).

Twenty threads fire conflicting transitions at one case at the same moment: exactly one wins,
every other gets 409, and the case's timeline grows by exactly one event. Concurrent retries of
one ``Idempotency-Key`` create one case.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from engine.case.models import Case
from engine.event.models import Event
from engine.vocabulary import CaseState, Trigger
from tests.builders import make_case

THREADS = 20


def fire_together(
    base_url: str, token: str, requests: list[tuple[str, dict]]
) -> list[httpx2.Response]:
    """Send every request from its own thread and client, all released at once."""
    start = threading.Barrier(len(requests))

    def send(request: tuple[str, dict]) -> httpx2.Response:
        path, kwargs = request
        headers = {"Authorization": f"Bearer {token}"} | kwargs.get("headers", {})
        kwargs = {k: v for k, v in kwargs.items() if k != "headers"}
        with httpx2.Client(base_url=base_url, timeout=60, trust_env=False) as client:
            start.wait(timeout=30)
            return client.post(path, headers=headers, **kwargs)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def events_of(session_factory, case_id: int) -> list[str]:
    with session_factory() as s:
        return [e.trigger for e in s.query(Event).filter_by(case_id=case_id).order_by(Event.seq)]


@pytest.mark.parametrize("with_version", [True, False], ids=["with-version", "without-version"])
def test_twenty_conflicting_transitions__one_wins_the_rest_409_and_one_event(
    api, live_server, session, session_factory, rt, city, clock, with_version
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = events_of(session_factory, case.id)
    cancel = {"trigger": Trigger.CANCEL, "reason": "重复受理"}
    if with_version:
        # Dispatch and cancel, all for the same version: only the first writer may act on it.
        dispatch = {"trigger": Trigger.DISPATCH, "lead": city.departments[0].id}
        bodies = [
            (dispatch if i % 2 else cancel) | {"version": case.version} for i in range(THREADS)
        ]
    else:
        # Without a version the moves are checked against the state: once cancelled, no more.
        bodies = [cancel] * THREADS
    responses = fire_together(
        live_server,
        api.tokens["cc_s1"],
        [(f"/api/v1/cases/{case.id}/transitions", {"json": b}) for b in bodies],
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: THREADS - 1}, [
        (r.json()["state"], r.json()["version"], r.json()["allowed_triggers"], r.request.content)
        for r in responses
        if r.status_code != 409
    ]
    winner = next(r.json() for r in responses if r.status_code == 200)
    after = events_of(session_factory, case.id)
    assert len(after) == len(before) + 1
    assert after[-1] == (
        Trigger.CANCEL if winner["state"] == CaseState.CANCELLED else Trigger.DISPATCH
    )
    conflicts = {r.json()["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409}
    assert conflicts <= {"stale-version", "illegal-transition"}


def test_concurrent_retries_of_one_idempotency_key__create_one_case(
    api, live_server, session_factory, city
):
    body = {"title": "燃气味道很重", "description": "楼道里有燃气味", "area_id": city.grids[0].id}
    responses = fire_together(
        live_server,
        api.tokens["resident"],
        [("/api/v1/cases", {"json": body, "headers": {"Idempotency-Key": "retry-storm"}})] * 10,
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    with session_factory() as s:
        assert s.query(Case).count() == 1
