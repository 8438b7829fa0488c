"""A first end-to-end check of the builders: a hotline case reaches every main-line state."""

import pytest

from engine.vocabulary import CaseState
from tests.builders import make_case


@pytest.mark.parametrize(
    "state",
    [
        CaseState.REPORTED,
        CaseState.ASSIGNED,
        CaseState.REPORTING_IN,
        CaseState.RESOLVED,
        CaseState.RATED,
    ],
)
def test_make_case__drives_a_hotline_case_to_each_main_line_state(session, rt, city, clock, state):
    case = make_case(session, rt, city, clock, state=state)
    assert case.state == state
