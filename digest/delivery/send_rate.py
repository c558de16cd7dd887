"""One send rate for every worker on every machine: messages start at most SEND_RATE_PER_SECOND
a second, evenly spaced (each start takes the next free slot, 1/rate after the previous one:
the generic cell rate algorithm with no burst). With Redis as the broker the next free slot
lives in Redis, so all workers share it; without one (tasks in-process) it lives in the caller.
When the ESP or mail server says "too fast" (HTTP 429, SES Throttling, SMTP 421/451),
slow_down() lowers the shared rate for a while.

Even spacing, not a window that lets a whole second's worth start at once: the far end counts
arrivals, and a burst at the edge of one second plus a few milliseconds of jitter would land
in the next second's count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings

SLOWED_FOR_SECONDS = 3  # how long a throttling answer keeps the rate lowered
SLOW_FACTOR = 0.9  # each throttling answer multiplies the rate by this…
SLOWEST = 0.1  # …down to this share of SEND_RATE_PER_SECOND
# Every message in flight when the far end starts throttling hears it: one slow-down per
# this many seconds, so a single burst of 429s does not take the rate to the floor.
SLOW_DOWN_EVERY = 1.0
LATE_TOLERANCE = 0.02  # seconds a sender may start after its slot (or one slot, if longer)


class SendRate(Protocol):
    def acquire(self) -> None:
        """Wait for this message's slot."""

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


class LocalSlots:
    """The next free slot in this process (tasks running in-process, no broker to share)."""

    def __init__(self, per_second: int, clock=time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._next = 0.0
        self._factor, self._slowed_at, self._slowed_until = 1.0, float("-inf"), 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        _wait_for_slot(self._reserve, self.per_second)

    def slow_down(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._slowed_at + SLOW_DOWN_EVERY:
                return
            self._factor = max(SLOWEST, self._current_factor() * SLOW_FACTOR)
            self._slowed_at, self._slowed_until = now, now + SLOWED_FOR_SECONDS

    def close(self) -> None:
        return None

    def _reserve(self) -> float:
        """Seconds from now to this caller's slot."""
        with self._lock:
            now = self.clock()
            slot = max(self._next, now)
            self._next = slot + 1 / (self.per_second * self._current_factor())
            return slot - now

    def _current_factor(self) -> float:
        return self._factor if self.clock() < self._slowed_until else 1.0


# KEYS: the next free slot (microseconds, Redis's clock) and the slow-down factor. ARGV: the
# rate. Reserves the next slot and returns the microseconds to wait for it. Redis's own clock,
# so workers on machines whose clocks differ still share one schedule.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local factor = tonumber(redis.call('GET', KEYS[2]) or '1')
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local after = slot + 1000000 / (tonumber(ARGV[1]) * factor)
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', 60000)
return slot - now
"""

# KEYS: the slow-down factor, and a marker that one was just applied. ARGV: multiplier,
# floor, milliseconds it lasts, milliseconds until the next may apply.
_SLOW_DOWN = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  return false
end
local factor = tonumber(redis.call('GET', KEYS[1]) or '1')
factor = math.max(tonumber(ARGV[2]), factor * tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(factor), 'PX', ARGV[3])
return tostring(factor)
"""


class RedisSlots:
    """The next free slot in Redis, shared by every worker that uses the same broker."""

    def __init__(self, per_second: int, url: str, namespace: str) -> None:
        import redis  # celery[redis] brings it; only needed with a Redis broker

        self.per_second = per_second
        self.client = redis.Redis.from_url(url)
        self.keys = [
            f"{namespace}:send-rate:next",
            f"{namespace}:send-rate:factor",
            f"{namespace}:send-rate:slowed",
        ]
        self._reserve = self.client.register_script(_RESERVE)
        self._slow_down = self.client.register_script(_SLOW_DOWN)

    def acquire(self) -> None:
        _wait_for_slot(self._seconds_to_slot, self.per_second)

    def _seconds_to_slot(self) -> float:
        return int(self._reserve(keys=self.keys[:2], args=[self.per_second])) / 1_000_000

    def slow_down(self) -> None:
        every = int(SLOW_DOWN_EVERY * 1000)
        self._slow_down(
            keys=self.keys[1:], args=[SLOW_FACTOR, SLOWEST, SLOWED_FOR_SECONDS * 1000, every]
        )

    def close(self) -> None:
        self.client.close()


def _wait_for_slot(reserve: Callable[[], float], per_second: int) -> None:
    """Reserve a slot and sleep until it. A process that stalls while it sleeps (a busy
    machine, a long garbage collection) wakes up after its slot: going then would land its
    message beside the next ones at the far end, so it takes a new slot instead."""
    late_by = max(1 / per_second, LATE_TOLERANCE)
    while True:
        due = time.monotonic() + max(0.0, reserve())
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        if time.monotonic() - due <= late_by:
            return


def shared_send_rate() -> SendRate:
    """The send rate as configured: shared through Redis when Redis is the broker."""
    per_second = settings.SEND_RATE_PER_SECOND
    if not per_second:
        return Unlimited()
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")) and not settings.CELERY_TASK_ALWAYS_EAGER:
        return RedisSlots(per_second, broker, settings.CELERY_TASK_DEFAULT_QUEUE)
    # In-process: one schedule per caller. send_digests keeps one for its whole run; chunks
    # run as eager tasks each start a fresh one.
    return LocalSlots(per_second)
