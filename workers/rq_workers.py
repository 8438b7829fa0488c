"""RQ worker classes that stop promptly: the ones the runner, the tests and the benchmarks use.

RQ listens for commands on a pubsub channel in a thread that reads with a 60 s timeout. Since
redis-py 8, stopping that thread waits until its read returns, so a worker asked to stop (every
burst worker, at the end of its burst) could hang for up to a minute before it returned: jobs
retried "a minute later" and tests that pass or fail on timing. Here the thread reads in short
slices, so stopping it takes at most ``PUBSUB_POLL_SECONDS``.
"""

from __future__ import annotations

import threading

from rq import SimpleWorker, Worker
from rq.worker.base import BaseWorker

# How long the command thread blocks in one read: the most a worker's shutdown can wait for it.
PUBSUB_POLL_SECONDS = 0.5


class PromptShutdown(BaseWorker):
    """A worker whose command-channel thread notices a stop within ``PUBSUB_POLL_SECONDS``."""

    def subscribe(self) -> None:
        """Listen on this worker's command channel, reading in short slices."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class ForkingWorker(PromptShutdown, Worker):
    """RQ's forking worker (a work horse per job), stopping promptly."""


class InProcessWorker(PromptShutdown, SimpleWorker):
    """RQ's in-process worker (no fork per job), stopping promptly; tells the runner when it is
    asked to stop."""

    stopping: threading.Event | None = None

    def handle_warm_shutdown_request(self) -> None:
        if self.stopping is not None:
            self.stopping.set()
        super().handle_warm_shutdown_request()  # type: ignore[no-untyped-call]
