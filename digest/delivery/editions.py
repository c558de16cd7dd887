"""Send slots, which readers are due in one, and the window of papers each reader's digest
covers.

Beat runs the planner every quarter hour: a slot. A reader is due in a slot when, in their own
time zone, their send hour has come today (a weekly reader: on their weekday) no more than
GRACE_HOURS ago, and they have no digest for this local day or week yet. So an hour the clocks
skip (spring forward) sends at the next slot, an hour they repeat (fall back) sends once, and
a planner that was down for a while catches up.

Each reader's papers chain on their own: a digest covers papers first seen from where the
reader's previous digest ended until its slot, so nothing is missed or repeated across a change
of hour, time zone or daylight saving. A new reader's first digest covers the days their live
preview searched (PREVIEW_DAYS before they signed up), so it brings the papers it showed them;
after a long pause, a digest reaches back at most MAX_WINDOW.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.db import IntegrityError, transaction

from digest.models import Edition, Frequency

if TYPE_CHECKING:
    from subscribers.models import Subscriber

log = logging.getLogger(__name__)

SLOT = timedelta(minutes=15)
GRACE_HOURS = 3
# No reader gets two digests this close together, whatever their periods say.
MIN_GAP = timedelta(hours=20)


def slot_of(moment: datetime) -> datetime:
    """The quarter hour `moment` falls in (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def closing(now: datetime, *, any_hour: bool = False) -> datetime:
    """Where a planning run at `now` closes its readers' windows: its slot, or now itself for
    an operator's "send now" (papers that arrived a minute ago come too)."""
    return now.astimezone(UTC) if any_hour else slot_of(now)


def zone(name: str) -> ZoneInfo:
    """The reader's time zone; UTC (and a warning) for a name the zone database lacks, so a
    bad value typed into the admin never stops their digests."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; using UTC", name)
        return ZoneInfo("UTC")


def is_zone(name: str) -> bool:
    return name in zone_names()


@cache  # the zone database is read once per process (it does not change while we run)
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def period_key(frequency: str, day: date) -> str:
    """A reader's period as stored on their delivery: their day, or their ISO week."""
    if frequency == Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def period_start(key: str) -> date:
    """The first day of a stored period (the Monday of a week)."""
    if "-W" in key:
        year, week = key.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(key)


@dataclass(frozen=True)
class DueGroup:
    """Readers in these zones are due in the slot when their send hour is one of `hours` (and,
    weekly, their weekday is `weekday`); their local period is `period`."""

    zones: tuple[str, ...]
    period: str
    hours: tuple[int, ...]
    weekday: int


def due_groups(
    frequency: str, slot: datetime, zones: Iterable[str], *, any_hour: bool = False
) -> Iterator[DueGroup]:
    """The readers' zones grouped by what is due in them at `slot` (zones whose clocks agree
    share one group, and one query). `any_hour`: every hour of the day counts (an operator
    sending now)."""
    groups: dict[tuple[str, tuple[int, ...], int], list[str]] = defaultdict(list)
    for name in zones:
        local = slot.astimezone(zone(name))
        hours = (
            range(24) if any_hour else range(max(0, local.hour - GRACE_HOURS + 1), local.hour + 1)
        )
        groups[(period_key(frequency, local.date()), tuple(hours), local.weekday())].append(name)
    for (period, hours, weekday), names in groups.items():
        yield DueGroup(tuple(names), period, hours, weekday)


MAX_WINDOW = timedelta(days=21)


def window_start(previous_end: datetime | None, signed_up: datetime, slot: datetime) -> datetime:
    """Where a reader's digest at `slot` starts: where their previous one ended, or, for their
    first, the day their preview's search reached back to (whole days, so readers who signed up
    the same day share one window); never more than MAX_WINDOW back, never after the slot."""
    if previous_end is None:
        first = (signed_up - timedelta(days=settings.PREVIEW_DAYS)).astimezone(UTC)
        previous_end = datetime.combine(first.date(), time(), UTC)
    return min(max(previous_end, slot - MAX_WINDOW), slot)


def next_send(
    frequency: str,
    zone_name: str,
    hour: int,
    weekday: int,
    after: datetime,
    *,
    had_this_period: bool = False,
) -> datetime:
    """The slot a reader's next digest is planned in (UTC): the first slot at or after both
    `after` and their send time, while that time is due; in their next period if they have
    had this one's."""
    tz = zone(zone_name)
    day = after.astimezone(tz).date()
    if had_this_period:
        day = period_start(period_key(frequency, day)) + Frequency(frequency).span
    for _ in range(8):
        if frequency != Frequency.WEEKLY or day.weekday() == weekday:
            at = datetime.combine(day, time(hour), tz).astimezone(UTC)
            candidate = _slot_at_or_after(max(at, after))
            if candidate < at + timedelta(hours=GRACE_HOURS):
                return candidate
        day += timedelta(days=1)
    raise AssertionError("a send time comes within eight days")


def _slot_at_or_after(moment: datetime) -> datetime:
    slot = slot_of(moment)
    return slot if slot == moment else slot + SLOT


def open_edition(frequency: str, slot: datetime) -> Edition:
    """The slot's edition, created if it does not exist yet (its window_start comes down to
    its readers' as they are planned)."""
    existing = Edition.objects.filter(frequency=frequency, window_end=slot).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            return Edition.objects.create(
                frequency=frequency, period=slot.date(), window_start=slot, window_end=slot
            )
    except IntegrityError:  # another planner opened it a moment ago
        return Edition.objects.get(frequency=frequency, window_end=slot)


def latest_digest_end(subscriber: Subscriber) -> datetime | None:
    """Where this reader's latest digest ended (the planner reads the same, in bulk:
    sending._previous_end)."""
    if subscriber.pk is None:
        return None
    latest = subscriber.deliveries.filter(edition__isnull=False).order_by("-pk")
    return latest.values_list("edition__window_end", flat=True).first()


def reader_next_send(subscriber: Subscriber, now: datetime) -> datetime:
    """When this reader's next digest is planned (UTC): not in a period they have had, nor
    within MIN_GAP of their latest digest."""
    previous = latest_digest_end(subscriber)
    if previous is not None:
        now = max(now, previous + MIN_GAP)
    local_day = now.astimezone(zone(subscriber.time_zone)).date()
    had = (
        subscriber.pk is not None
        and subscriber.deliveries.filter(
            period=period_key(subscriber.frequency, local_day)
        ).exists()
    )
    return next_send(
        subscriber.frequency,
        subscriber.time_zone,
        subscriber.send_hour,
        subscriber.send_weekday,
        now,
        had_this_period=had,
    )
