"""Which edition a moment belongs to and the window of papers it covers.

Each frequency's windows chain: a new edition starts where the latest one ended, so papers
are never missed or repeated, and a service that was down for three days simply sends one
edition covering all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, transaction

from digest.models import Edition, Frequency


@dataclass(frozen=True)
class EditionWindow:
    frequency: str
    period: date
    start: datetime
    end: datetime


def period_of(frequency: str, moment: datetime) -> date:
    """The day (daily) or the Monday of the ISO week (weekly) that `moment` falls in, in UTC."""
    day = moment.astimezone(UTC).date()
    return day if frequency == Frequency.DAILY else day - timedelta(days=day.weekday())


def next_period(frequency: str, period: date) -> date:
    """The period after this one: the next day, or the next ISO week's Monday."""
    return period + Frequency(frequency).span


def window_for(frequency: str, now: datetime, previous_end: datetime | None) -> EditionWindow:
    """The window closing now: from the previous edition's end (or one period back)."""
    start = previous_end or now - Frequency(frequency).span
    return EditionWindow(frequency, period_of(frequency, now), min(start, now), now)


def open_edition(frequency: str, now: datetime) -> Edition:
    """The edition for now's period, created with its window if it does not exist yet."""
    period = period_of(frequency, now)
    existing = Edition.objects.filter(frequency=frequency, period=period).first()
    if existing:
        return existing
    latest = Edition.objects.filter(frequency=frequency).order_by("-window_end").first()
    window = window_for(frequency, now, latest.window_end if latest else None)
    try:
        with transaction.atomic():
            return Edition.objects.create(
                frequency=frequency,
                period=window.period,
                window_start=window.start,
                window_end=window.end,
            )
    except IntegrityError:  # another planner opened it a moment ago
        return Edition.objects.get(frequency=frequency, period=period)
