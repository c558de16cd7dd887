"""Each reader's digest at their own local hour: beat's planner runs every quarter hour of
nine days around a daylight-saving change, and every reader gets exactly one daily digest per local
day (one weekly per local week), at their hour, with papers that chain from one to the next."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine

from digest.delivery import editions, sending
from digest.models import Delivery
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

READERS = [
    # time zone, send hour: UTC+13, UTC-10, UTC+5:30, and New York across its clock change at
    # 02:00 (the hour 02:00 does not exist in spring; 01:00 comes twice in the autumn).
    ("Pacific/Tongatapu", 7),
    ("Pacific/Honolulu", 7),
    ("Asia/Kolkata", 9),
    ("America/New_York", 2),
    ("America/New_York", 1),
    ("Europe/Berlin", 23),
]


def run_beat(start: datetime, days: int, *, slots: int = 0) -> None:
    """The planner at every quarter hour, as beat runs it (for `days`, or `slots` of them)."""
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(slots or days * 24 * 4):
            for frequency in ("daily", "weekly"):
                sending.plan_edition(frequency)
            clock.shift(editions.SLOT)


def local_sends(reader) -> list[datetime]:
    rows = reader.deliveries.order_by("edition__window_end").select_related("edition")
    return [d.edition.window_end.astimezone(ZoneInfo(reader.time_zone)) for d in rows]


def hour_on(day: date, hour: int, zone: str) -> int:
    """Their hour, or on the day the clocks skip it, the hour after (the first slot then)."""
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, time(hour), tz)
    return hour if wall.astimezone(UTC).astimezone(tz).hour == hour else hour + 1


def full_local_days(zone: str, start: datetime, days: int) -> list[date]:
    first = (start.astimezone(ZoneInfo(zone)) + timedelta(days=1)).date()
    return [first + timedelta(days=n) for n in range(days - 2)]


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 2, tzinfo=UTC),  # New York springs forward on Sunday, March 8
        datetime(2026, 10, 26, tzinfo=UTC),  # and falls back on Sunday, November 1
    ],
    ids=["spring", "autumn"],
)
def test_every_reader_gets_one_digest_per_local_day_at_their_hour(start):
    days = 9  # from a Monday: one Friday
    with time_machine.travel(start - timedelta(days=1)):
        daily = [SubscriberFactory(time_zone=z, send_hour=h) for z, h in READERS]
        weekly = [
            SubscriberFactory(time_zone=z, send_hour=h, frequency="weekly", send_weekday=4)
            for z, h in READERS
        ]
    run_beat(start, days)
    for reader in daily:
        sends = local_sends(reader)
        per_day = Counter(moment.date() for moment in sends)
        expected = full_local_days(reader.time_zone, start, days)
        assert [per_day[day] for day in expected] == [1] * len(expected), reader.time_zone
        assert max(per_day.values()) == 1  # none doubled, the edges included
        for moment in sends:
            expected_hour = hour_on(moment.date(), reader.send_hour, reader.time_zone)
            assert (moment.hour, moment.minute) == (expected_hour, 0), (reader.time_zone, moment)
    for reader in weekly:
        sends = local_sends(reader)
        assert [moment.weekday() for moment in sends] == [4]  # their Friday, once


def test_a_repeated_hour_sends_once_and_a_skipped_hour_sends_at_the_next_slot():
    night_owl = SubscriberFactory(time_zone="America/New_York", send_hour=1)
    early = SubscriberFactory(time_zone="America/New_York", send_hour=2)
    run_beat(datetime(2026, 11, 1, 3, tzinfo=UTC), 1)  # Nov 1: 01:00-02:00 comes twice
    assert len([m for m in local_sends(night_owl) if m.date() == date(2026, 11, 1)]) == 1
    early.deliveries.all().delete()
    run_beat(datetime(2026, 3, 8, 3, tzinfo=UTC), 1)  # Mar 8: 02:00 never comes
    (sunday,) = [m for m in local_sends(early) if m.date() == date(2026, 3, 8)]
    assert (sunday.hour, sunday.minute) == (3, 0)


def test_each_readers_papers_chain_across_a_clock_change():
    reader = SubscriberFactory(time_zone="Europe/Berlin", send_hour=7)
    run_beat(datetime(2026, 10, 23, tzinfo=UTC), 4)  # Berlin falls back on October 25
    deliveries = list(reader.deliveries.order_by("edition__window_end").select_related("edition"))
    assert len(deliveries) == 4
    for previous, delivery in pairwise(deliveries):
        assert delivery.window_start == previous.edition.window_end
    spans = {d.edition.window_end - d.window_start for d in deliveries[1:]}
    assert spans == {timedelta(hours=24), timedelta(hours=25)}  # the day with an extra hour


def test_changing_the_hour_after_todays_digest_sends_nothing_more_today():
    reader = SubscriberFactory(send_hour=7)
    with time_machine.travel(datetime(2026, 11, 23, 7, tzinfo=UTC)):
        assert sending.plan_edition("daily") is not None
    reader.send_hour = 9
    reader.save()
    with time_machine.travel(datetime(2026, 11, 23, 9, tzinfo=UTC)):
        assert sending.plan_edition("daily") is None
    with time_machine.travel(datetime(2026, 11, 24, 9, tzinfo=UTC)):
        sending.plan_edition("daily")
    assert Delivery.objects.filter(subscriber=reader).count() == 2


def test_the_next_send_is_at_their_local_hour():
    after = datetime(2026, 12, 2, 12, tzinfo=UTC)
    # Kolkata is 17:30 now: 09:00 tomorrow is 03:30 UTC.
    assert editions.next_send("daily", "Asia/Kolkata", 9, 0, after) == datetime(
        2026, 12, 3, 3, 30, tzinfo=UTC
    )
    # Honolulu is 02:00 now: 07:00 today is 17:00 UTC.
    assert editions.next_send("daily", "Pacific/Honolulu", 7, 0, after) == datetime(
        2026, 12, 2, 17, tzinfo=UTC
    )
    # Within the grace hours and no digest yet: the next slot; after one: the next period.
    assert editions.next_send("daily", "UTC", 11, 0, after) == after
    assert editions.next_send("daily", "UTC", 11, 0, after, had_this_period=True) == datetime(
        2026, 12, 3, 11, tzinfo=UTC
    )
    # Weekly on Fridays, from a Wednesday.
    assert editions.next_send("weekly", "UTC", 7, 4, after) == datetime(2026, 12, 4, 7, tzinfo=UTC)


def test_an_unknown_time_zone_still_gets_its_digest_in_utc(caplog):
    reader = SubscriberFactory(time_zone="Mars/Olympus_Mons", send_hour=7)
    with time_machine.travel(datetime(2026, 11, 23, 7, tzinfo=UTC)):
        sending.plan_edition("daily")
    assert reader.deliveries.count() == 1
    assert "unknown time zone 'Mars/Olympus_Mons'" in caplog.text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"frequency": "daily"}, {"frequency": "weekly"}),
        ({"frequency": "weekly"}, {"frequency": "daily"}),
        ({"time_zone": "Pacific/Kiritimati"}, {"time_zone": "Pacific/Honolulu"}),
    ],
    ids=["daily to weekly", "weekly to daily", "a day back in zones"],
)
def test_no_switch_brings_a_second_digest_the_same_day(before, after):
    reader = SubscriberFactory(send_hour=7, send_weekday=0, **before)
    moment = datetime(2026, 11, 22, 12, tzinfo=UTC)  # Sunday noon UTC
    while not reader.deliveries.exists():  # beat, until their first digest
        run_beat(moment, 0, slots=1)
        moment += editions.SLOT
    (first,) = reader.deliveries.select_related("edition")
    for name, value in after.items():
        setattr(reader, name, value)
    reader.save()
    run_beat(moment, 1)  # the next 24 hours: their new period is due within them
    later = reader.deliveries.exclude(pk=first.pk).select_related("edition")
    assert all(
        d.edition.window_end - first.edition.window_end >= timedelta(hours=20) for d in later
    )


def test_the_pages_next_send_waits_out_the_gap_after_a_switch():
    reader = SubscriberFactory(frequency="daily", send_hour=7)
    monday_7 = datetime(2026, 11, 23, 7, tzinfo=UTC)
    sending.plan_edition("daily", monday_7)
    reader.frequency, reader.send_weekday = "weekly", 0  # weekly, on Mondays: that was today
    reader.save()
    soon = monday_7 + timedelta(minutes=20)
    assert editions.reader_next_send(reader, soon) == datetime(2026, 11, 30, 7, tzinfo=UTC)
    with time_machine.travel(soon + timedelta(minutes=10)):
        assert sending.plan_edition("weekly") is None  # the planner agrees
