from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask

from digest.console import dashboard
from digest.delivery import sending
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def daily(now: datetime) -> dashboard.EditionSummary:
    return next(e for e in dashboard.editions(now) if e.frequency == "daily")


@pytest.mark.parametrize("clock", ["00:00:40", "03:29:59", "01:30:00"])
def test_it_shows_when_the_next_readers_are_due(clock):
    SubscriberFactory(time_zone="Asia/Kolkata", send_hour=9)  # 03:30 UTC
    SubscriberFactory(time_zone="Europe/Berlin", send_hour=7)  # 06:00 UTC in March
    now = datetime.fromisoformat(f"2026-03-02T{clock}+00:00")
    assert daily(now).next_at == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)


def test_after_a_readers_digest_their_next_is_tomorrow():
    SubscriberFactory(send_hour=7)
    sending.plan_edition("daily", datetime(2026, 3, 2, 7, tzinfo=UTC))
    assert daily(datetime(2026, 3, 2, 7, 20, tzinfo=UTC)).next_at == datetime(
        2026, 3, 3, 7, tzinfo=UTC
    )


def test_no_next_send_without_the_planner():
    SubscriberFactory()
    PeriodicTask.objects.filter(task="digest.send_due").update(enabled=False)
    summary = daily(datetime(2026, 3, 2, 5, tzinfo=UTC))
    assert summary.next_at is None and not summary.schedule_enabled
