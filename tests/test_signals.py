"""A stop signal that arrives while the main thread is inside the stop event itself (where a
second Ctrl-C, or make passing on its group's SIGTERM, finds it) still stops the process: the
handler takes no lock, a thread of its own sets the event."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from workers.signals import stop_on_signals

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture
def handlers_restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _signal_main_thread_holding_the_events_lock(stop: threading.Event) -> None:
    main = threading.main_thread().ident
    assert main is not None
    # Event.wait and Event.set run under this lock; a handler that sets the event while the
    # main thread holds it would wait for itself.
    with stop._cond:
        signal.pthread_kill(main, signal.SIGTERM)
        signal.pthread_kill(main, signal.SIGINT)


def test_signals_while_the_main_thread_holds_the_events_lock__set_it_once_released(
    handlers_restored,
):
    stop = threading.Event()
    stop_on_signals(stop)
    _signal_main_thread_holding_the_events_lock(stop)
    assert stop.wait(timeout=30)


def _relays() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "stop-signals")


def test_installing_again__keeps_one_relay_thread_per_event_and_still_stops(handlers_restored):
    stop = threading.Event()
    before = _relays()
    stop_on_signals(stop)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a library taking the handlers over
    stop_on_signals(stop)
    stop_on_signals(stop)
    assert _relays() == before + 1
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
    assert stop.wait(timeout=30)


HANGS_WITHOUT_THE_RELAY = """
import signal, threading
stop = threading.Event()
def handler(signum, frame):
    stop.set()
signal.signal(signal.SIGTERM, handler)
with stop._cond:
    signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
print("unreachable")
"""


def test_a_handler_that_sets_the_event_itself__is_what_hung(tmp_path):
    """The test above stands for a real hang: the plain handler, in the same state, never
    returns (run in a child stopped after 5 s)."""
    script = tmp_path / "hang.py"
    script.write_text(HANGS_WITHOUT_THE_RELAY)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, str(script)], capture_output=True, timeout=5, check=False)
