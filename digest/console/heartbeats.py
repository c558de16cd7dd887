"""Workers report that they are alive, for the admin dashboard ("worker seen 2 minutes ago").

A worker records itself when it starts and after tasks, at most every HEARTBEAT_EVERY seconds
per process, so the cost is one small UPDATE per half minute, not one per task.
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError

from digest.models import Heartbeat

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 30.0
_last_recorded: dict[str, float] = {}


def seen(role: str) -> None:
    now = time.monotonic()
    if now - _last_recorded.get(role, float("-inf")) < HEARTBEAT_EVERY:
        return
    _last_recorded[role] = now
    try:
        Heartbeat.record(role)
    except DatabaseError:  # the dashboard can live without it; the task must not fail
        log.warning("could not record the heartbeat of %s", role, exc_info=True)
