"""Rate limits counted in Redis: cases raised per client, and console login attempts.

A fixed window per key (``whistle:intake:<client>:<window number>``), so every API process
shares one count. When Redis is unreachable the intake limit is not enforced (intake matters more
than the limit) and the failure is logged; ``/healthz`` reports Redis down meanwhile. The login
limit fails closed instead: no password is checked while it cannot be counted (503).
"""

from __future__ import annotations

import hashlib
import logging
import math

import redis

from api.errors import RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)
KEY_PREFIX = "whistle:intake:"


# Count one intake and give a new window key its lifetime, atomically, in one command: cheaper
# for the API than a pipeline of two (SET NX EX, INCR), and no key is ever left without expiry.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_COUNT_SHA = hashlib.sha1(_COUNT.encode()).hexdigest()


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
            try:
                count = self.redis.evalsha(_COUNT_SHA, 1, key, self.window + 1)
            except redis.exceptions.NoScriptError:  # a Redis that has not seen it (or restarted)
                count = self.redis.eval(_COUNT, 1, key, self.window + 1)
        except redis.RedisError as exc:
            log.warning("intake rate limit not enforced: Redis unavailable (%s)", exc)
            return
        if int(count) > self.limit:
            retry = max(1, math.ceil((number + 1) * self.window - now))
            raise RateLimited(
                f"{who} raised more than {self.limit} cases in {self.window} s; retry in {retry} s",
                retry_after=retry,
            )


LOGIN_PREFIX = "whistle:login:"
# One client address may try this many times the per-username limit, over all usernames.
ADDRESS_FACTOR = 5


class LoginLimiter:
    """Console login attempts per window: ``limit`` per username from one client address, and
    ``limit × ADDRESS_FACTOR`` per address in all (``limit`` 0: no limit).

    Counting per (username, address) means nobody can lock a known account out from elsewhere;
    counting per address caps how many passwords one client can try across accounts. Without a
    Redis that answers, the limit cannot be kept, so logins are refused (``ServiceUnavailable``)
    until it answers again; no Redis configured at all counts in this process.
    """

    def __init__(self, client: redis.Redis | None, *, limit: int, window: int) -> None:
        self.redis = client
        self.limit = limit
        self.window = window
        self._local: dict[str, int] = {}  # without Redis: this window's counts in this process

    def hit(self, *, username: str, address: str, now: float) -> None:
        """Count one attempt; ``RateLimited`` when over, ``ServiceUnavailable`` if uncountable."""
        if self.limit <= 0:
            return
        number = int(now // self.window)
        keys = [
            f"{LOGIN_PREFIX}user:{username.lower()}:{address}:{number}",
            f"{LOGIN_PREFIX}addr:{address}:{number}",
        ]
        counts = self._count_redis(keys) if self.redis is not None else self._count_here(keys)
        retry = max(1, math.ceil((number + 1) * self.window - now))
        if counts[0] > self.limit or counts[1] > self.limit * ADDRESS_FACTOR:
            raise RateLimited(
                f"too many login attempts from {address}; retry in {retry} s", retry_after=retry
            )

    def _count_redis(self, keys: list[str]) -> list[int]:
        assert self.redis is not None
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, 0, ex=self.window + 1, nx=True)
                pipe.incr(key)
            results = pipe.execute()
        except redis.RedisError as exc:
            log.warning("login refused: the login limit cannot be counted (%s)", exc)
            raise ServiceUnavailable(
                "logins are paused while the login limit cannot be counted; try again shortly"
            ) from None
        return [int(results[1]), int(results[3])]

    def _count_here(self, keys: list[str]) -> list[int]:
        window = keys[1].rsplit(":", 1)[1]
        # Keys of past windows are dropped, so the map holds one window's attempts at most.
        self._local = {k: v for k, v in self._local.items() if k.endswith(f":{window}")}
        for key in keys:
            self._local[key] = self._local.get(key, 0) + 1
        return [self._local[key] for key in keys]
