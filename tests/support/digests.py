"""Digests really sent (planned, dispatched, sent through the configured backend), for tests
of what is built from sent deliveries: the feed, the archive."""

from __future__ import annotations

from datetime import datetime

import time_machine

from digest.delivery import sending


def send_digests_at(when: datetime) -> None:
    """Plan and send every due reader's digest as if it were `when`."""
    with time_machine.travel(when, tick=False):
        edition = sending.plan_edition("daily", when, any_hour=True)
        if edition is not None:
            for ids in sending.dispatch(edition):
                sending.send_chunk(ids)
