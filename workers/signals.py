"""Stopping a process on SIGINT or SIGTERM without taking a lock inside the signal handler.

A handler runs in the main thread between two bytecodes, wherever that thread is. One that calls
``threading.Event.set`` takes the event's lock; if the main thread already holds it — inside
``wait`` or inside another ``set``, which is where a second signal finds it (a Ctrl-C pressed
twice, or ``make`` passing on the SIGTERM its process group got) — the handler waits for itself
and the process hangs for ever. Here the handler only writes the signal's number to a pipe (a
system call, no Python lock); a thread of its own reads it and sets the event.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Each event's pipe, written by the handlers, read by its relay thread (one per event).
_pipes: dict[threading.Event, int] = {}


def stop_on_signals(stop: threading.Event) -> None:
    """Install handlers for SIGINT and SIGTERM that set ``stop`` (again, after a library took
    them over, is fine: the relay thread is started once per event). Main thread only."""
    write_end = _pipes.get(stop)
    if write_end is None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        relay = threading.Thread(
            target=_relay, args=(read_end, stop), name="stop-signals", daemon=True
        )
        relay.start()
        _pipes[stop] = write_end

    def handler(signum: int, _frame: FrameType | None) -> None:
        # A full pipe holds earlier signals: the stop is already on its way.
        with contextlib.suppress(BlockingIOError):
            os.write(write_end, bytes([signum]))

    for sig in _STOP_SIGNALS:
        signal.signal(sig, handler)


def _relay(read_end: int, stop: threading.Event) -> None:
    while data := os.read(read_end, 64):
        log.info("signal %s: stopping", data[-1])
        stop.set()
