"""The intake rate limit: cases raised per client per window, counted in Redis.

A fixed window per client (``whistle:intake:<client>:<window number>``), so every API process
shares one count. When Redis is unreachable the limit is not enforced (intake matters more than
the limit) and the failure is logged; ``/healthz`` reports Redis down meanwhile.
"""

from __future__ import annotations

import logging
import math

import redis

from api.problems import RateLimited

log = logging.getLogger(__name__)
KEY_PREFIX = "whistle:intake:"


class IntakeLimiter:
    """At most ``limit`` intakes per client in each ``window`` seconds (``limit`` 0: no limit)."""

    def __init__(self, client: redis.Redis | None, *, limit: int, window: int) -> None:
        self.redis = client
        self.limit = limit
        self.window = window

    @property
    def enabled(self) -> bool:
        return self.redis is not None and self.limit > 0

    def hit(self, who: str, *, now: float) -> None:
        """Count one intake by ``who`` at wall time ``now``; ``RateLimited`` when over."""
        if self.redis is None or self.limit <= 0:
            return
        number = int(now // self.window)
        key = f"{KEY_PREFIX}{who}:{number}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            # SET NX EX gives the window key its lifetime once; INCR counts (Redis 6 has no
            # EXPIRE NX).
            pipe.set(key, 0, ex=self.window + 1, nx=True)
            pipe.incr(key)
            _, count = pipe.execute()
        except redis.RedisError as exc:
            log.warning("intake rate limit not enforced: Redis unavailable (%s)", exc)
            return
        if int(count) > self.limit:
            retry = max(1, math.ceil((number + 1) * self.window - now))
            raise RateLimited(
                f"{who} raised more than {self.limit} cases in {self.window} s; retry in {retry} s",
                retry_after=retry,
            )
