"""The BPMN reference of ``bench.lifecycle --reference``: it runs the same six steps, stores one
serialised state and one event per step, and its check refuses a run that did not finish."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bench import bpmn, lifecycle
from bench.drivers import STEPS, T0, Share
from bench.lifecycle import Figures, RunFigures, markdown
from bench.world import prepare
from engine.db import make_engine


@pytest.fixture
def prepared(tmp_path):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    organisation = prepare(url, cases=3, now=T0)
    bpmn.create_tables(url)
    return url, organisation


def test_each_case_runs_to_its_end_a_state_and_an_event_per_step(prepared):
    url, organisation = prepared
    result = bpmn.run_reference_client(url, organisation, Share(first_id=1, count=3), lambda: None)
    assert {step: len(times) for step, times in result.latencies.items()} == dict.fromkeys(STEPS, 3)
    assert result.finished >= result.started > 0
    size = bpmn.check_reference(url, 3)
    # The whole workflow is stored: its task tree and the case's fields, thousands of characters.
    assert size > 2000
    engine = make_engine(url)
    with engine.connect() as conn:
        events = conn.execute(
            select(bpmn.bpmn_events.c.seq, bpmn.bpmn_events.c.payload)
            .where(bpmn.bpmn_events.c.case_id == 2)
            .order_by(bpmn.bpmn_events.c.seq)
        ).all()
    engine.dispose()
    assert [seq for seq, _ in events] == [1, 2, 3, 4, 5, 6]
    assert [p["trigger"] for _, p in events] == list(STEPS)
    assert events[-1][1]["to"] == bpmn.CLOSED


def test_the_check_refuses_a_run_that_did_not_finish(prepared):
    url, organisation = prepared
    bpmn.run_reference_client(url, organisation, Share(first_id=1, count=3), lambda: None)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            update(bpmn.bpmn_instances).where(bpmn.bpmn_instances.c.id == 3).values(waiting="rate")
        )
    engine.dispose()
    with pytest.raises(RuntimeError, match="2 of 3 instances closed"):
        bpmn.check_reference(url, 3)


def test_a_case_raised_twice_is_refused_and_the_first_run_stands(prepared):
    url, organisation = prepared
    bpmn.run_reference_client(url, organisation, Share(first_id=1, count=1), lambda: None)
    with pytest.raises(IntegrityError):
        bpmn.run_reference_client(url, organisation, Share(first_id=1, count=1), lambda: None)
    assert bpmn.check_reference(url, 1) > 0


def test_the_report_shows_the_reference_beside_the_engine():
    def figures(steps_per_s: float) -> Figures:
        return Figures(
            steps=600, wall_s=600 / steps_per_s, p50_ms=1.0, p99_ms=2.0,
            step_p50_ms=dict.fromkeys(STEPS, 1.0), step_p99_ms=dict.fromkeys(STEPS, 2.0),
            load_before=0.3,
        )  # fmt: skip

    run = RunFigures(
        "sqlite", 1, 100, floor=figures(1000), engine=figures(250),
        reference=figures(200), reference_state_chars=8745,
    )  # fmt: skip
    lines = markdown([run])
    (row,) = [line for line in lines if line.startswith("| sqlite | 1 | 1,000 | 250 | 200 |")]
    assert "| 25 % | 20 % |" in row
    assert "| 8,745 |" in row
    plain = markdown([RunFigures("sqlite", 1, 100, floor=figures(1000), engine=figures(250))])
    assert not any("BPMN" in line for line in plain)


def test_the_reference_without_spiffworkflow_is_refused_with_what_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "SpiffWorkflow" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SystemExit) as stopped:
        lifecycle.main(["--cases", "2", "--reference"])
    assert stopped.value.code == 2
    assert "--reference needs SpiffWorkflow" in capsys.readouterr().err
