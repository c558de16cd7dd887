from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from digest.console import dashboard

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("clock", ["06:00:40", "06:59:59", "06:30:00", "06:00:00"])
def test_it_shows_the_next_send_at_the_scheduled_minute(clock):
    PeriodicTask.objects.filter(task="digest.send_edition").delete()
    seven = CrontabSchedule.objects.create(minute="0", hour="7", timezone="UTC")
    PeriodicTask.objects.create(
        name="daily digest",
        task="digest.send_edition",
        args='["daily"]',
        crontab=seven,
        last_run_at=datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
    )
    now = datetime.fromisoformat(f"2026-03-02T{clock}+00:00")

    with time_machine.travel(now, tick=False):
        daily = next(e for e in dashboard.editions(now) if e.frequency == "daily")

    assert daily.next_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
