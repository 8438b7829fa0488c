"""RQ worker classes that stop promptly: the ones the runner, the tests and the benchmarks use.

RQ listens for commands on a pubsub channel in a thread that reads with a 60 s timeout. Since
redis-py 8, stopping that thread waits until its read returns, so a worker asked to stop (every
burst worker, at the end of its burst) could hang for up to a minute before it returned: jobs
retried "a minute later" and tests that pass or fail on timing. Here the thread reads in short
slices, so stopping it takes at most ``PUBSUB_POLL_SECONDS``.

A waiting worker blocks in BLPOP for its dequeue timeout (``worker_ttl`` - 15 s, 405 s by default).
RQ makes that safe by raising the socket timeout in the connection pool's settings, but a
connection the pool already holds keeps the timeout it was made with (redis-py 8: 5 s), so a
BLPOP that drew one timed out every few seconds ("could not connect to Redis instance: Timeout
reading from …/redis.sock"), and RQ backed off up to a minute between tries while jobs waited.
Here a worker reads from a client of its own whose every connection outlasts its dequeue.
"""

from __future__ import annotations

import threading

import redis
from rq import SimpleWorker, Worker
from rq.worker.base import BaseWorker

# How long the command thread blocks in one read: the most a worker's shutdown can wait for it.
PUBSUB_POLL_SECONDS = 0.5


class PromptShutdown(BaseWorker):
    """A worker whose command-channel thread notices a stop within ``PUBSUB_POLL_SECONDS``, and
    whose blocking dequeue never outlasts the socket it reads from."""

    def _set_connection(self, connection: redis.Redis) -> redis.Redis:
        """A client of the worker's own, to the same server, whose reads wait longer than the
        worker's blocking dequeue (RQ would only change the settings of the caller's pool, which
        its connections made earlier, the sweeper's, do not follow)."""
        given = connection.connection_pool
        timeout = given.connection_kwargs.get("socket_timeout")
        kwargs = dict(given.connection_kwargs)
        if timeout is None or timeout < self.connection_timeout:
            kwargs["socket_timeout"] = self.connection_timeout
        pool = redis.ConnectionPool(connection_class=given.connection_class, **kwargs)
        return redis.Redis(connection_pool=pool)

    def teardown(self) -> None:
        """Stop as RQ does, then close the worker's own connections."""
        super().teardown()  # type: ignore[no-untyped-call]
        if not self.is_horse:
            self.connection.connection_pool.disconnect()

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


class InspectedWorker(Worker):
    """A worker read back from Redis only to be looked at, never run: it leaves the caller's
    client as it is (RQ would raise the socket timeout of the caller's whole pool)."""

    def _set_connection(self, connection: redis.Redis) -> redis.Redis:
        return connection
