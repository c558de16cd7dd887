"""One send rate for every worker on every machine: at most SEND_RATE_PER_SECOND messages start
in any rolling second (a sliding window, as listmonk's message rate). With Redis as the broker
the window lives in Redis, so all workers share it; without one (tasks in-process) it lives in
the process. When the ESP or mail server says "too fast" (HTTP 429, SES Throttling, SMTP
421/451), slow_down() lowers the shared rate for a while.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Protocol

from django.conf import settings

SLOWED_FOR_SECONDS = 10  # how long a throttling answer keeps the rate lowered
SLOW_FACTOR = 0.7  # each throttling answer multiplies the rate by this…
SLOWEST = 0.1  # …down to this share of SEND_RATE_PER_SECOND


class SendRate(Protocol):
    def acquire(self) -> None:
        """Wait until one more message may start."""

    def slow_down(self) -> None:
        """The far end said we are too fast: lower the rate for everyone for a while."""

    def close(self) -> None:
        """Let go of any connection it holds."""


class Unlimited:
    def acquire(self) -> None:
        return None

    def slow_down(self) -> None:
        return None

    def close(self) -> None:
        return None


class LocalWindow:
    """The sliding window in this process (tasks running in-process, no broker to share)."""

    def __init__(self, per_second: int, clock=time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._starts: deque[float] = deque()
        self._factor, self._slowed_until = 1.0, 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while (wait := self._try()) > 0:
            time.sleep(wait)

    def slow_down(self) -> None:
        with self._lock:
            self._factor = max(SLOWEST, self._current_factor() * SLOW_FACTOR)
            self._slowed_until = self.clock() + SLOWED_FOR_SECONDS

    def _try(self) -> float:
        with self._lock:
            now = self.clock()
            while self._starts and self._starts[0] <= now - 1:
                self._starts.popleft()
            limit = max(1, int(self.per_second * self._current_factor()))
            if len(self._starts) < limit:
                self._starts.append(now)
                return 0.0
            return max(0.001, self._starts[len(self._starts) - limit] + 1 - now)

    def _current_factor(self) -> float:
        return self._factor if self.clock() < self._slowed_until else 1.0

    def close(self) -> None:
        return None


# KEYS: the window (a sorted set of start times) and the slow-down factor. ARGV: the rate and a
# unique member. Returns 0 when this start is admitted, else milliseconds to wait. Redis's own
# clock, so workers on machines whose clocks differ still share one window.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
local factor = tonumber(redis.call('GET', KEYS[2]) or '1')
local limit = math.max(1, math.floor(tonumber(ARGV[1]) * factor))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return 0
end
local freed = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(freed[2]) + 1000000 - now) / 1000))
"""

# KEYS: the slow-down factor. ARGV: multiplier, floor, milliseconds it lasts.
_SLOW_DOWN = """
local factor = tonumber(redis.call('GET', KEYS[1]) or '1')
factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(factor), 'PX', tonumber(ARGV[3]))
return tostring(factor)
"""


class RedisWindow:
    """The sliding window in Redis, shared by every worker that uses the same broker."""

    def __init__(self, per_second: int, url: str, namespace: str) -> None:
        import redis  # celery[redis] brings it; only needed with a Redis broker

        self.per_second = per_second
        self.client = redis.Redis.from_url(url)
        self.keys = [f"{namespace}:send-rate:window", f"{namespace}:send-rate:factor"]
        self._acquire = self.client.register_script(_ACQUIRE)
        self._slow_down = self.client.register_script(_SLOW_DOWN)

    def acquire(self) -> None:
        while wait_ms := int(self._acquire(keys=self.keys, args=[self.per_second, _member()])):
            time.sleep(wait_ms / 1000)

    def slow_down(self) -> None:
        self._slow_down(keys=self.keys[1:], args=[SLOW_FACTOR, SLOWEST, SLOWED_FOR_SECONDS * 1000])

    def close(self) -> None:
        self.client.close()


def _member() -> str:
    return uuid.uuid4().hex


def shared_send_rate() -> SendRate:
    """The send rate as configured: shared through Redis when Redis is the broker."""
    per_second = settings.SEND_RATE_PER_SECOND
    if not per_second:
        return Unlimited()
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")) and not settings.CELERY_TASK_ALWAYS_EAGER:
        return RedisWindow(per_second, broker, settings.CELERY_TASK_DEFAULT_QUEUE)
    # In-process: one window per caller. send_digests keeps one for its whole run; chunks run
    # as eager tasks each start a fresh one.
    return LocalWindow(per_second)
