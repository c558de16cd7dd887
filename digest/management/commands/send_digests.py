from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from digest.delivery import editions, previews, sending
from digest.delivery.send_rate import shared_send_rate
from digest.matching.query import QueryError
from digest.models import Announcement, Delivery, Edition, Frequency
from lib import emails
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = (
        "Plan the readers whose local send hour has come (as beat does every quarter hour), "
        "resume any unfinished deliveries, and send them in this process with progress and a "
        "summary. Safe to re-run: nobody gets two digests for one day (or week)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--frequency",
            choices=Frequency.values,
            help="only this edition (default: daily and weekly)",
        )
        parser.add_argument(
            "--now",
            action="store_true",
            help="also every reader whose hour has not come yet today (this week, for weekly "
            "readers) and who has had no digest for it",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="say what a real run would do now, composing every digest; send and store nothing",
        )

    def handle(
        self, *args: Any, frequency: str | None, now: bool, dry_run: bool, **options: Any
    ) -> None:
        frequencies = [frequency] if frequency else Frequency.values
        if dry_run:
            for name in frequencies:
                self.stdout.write(self.rehearse(name, timezone.now(), any_hour=now))
            return
        rate = shared_send_rate()  # one window for the whole run
        try:
            stuck = sum(self.send(name, rate, any_hour=now) for name in frequencies)
            stuck += self.resume_announcements(rate)
        finally:
            rate.close()
        if stuck:
            raise CommandError(
                f"{stuck} deliveries are unfinished because the mail server was unavailable; "
                "run this command again to resume them (beat's sweep also retries them).",
                returncode=1,
            )

    def send(self, frequency: str, rate: sending.SendRate, *, any_hour: bool) -> int:
        """Plan and send the due readers and resume unfinished editions; returns how many
        deliveries are still unfinished."""
        current = sending.plan_edition(frequency, any_hour=any_hour)
        earlier = [e for e in _unfinished_editions(frequency) if current is None or e != current]
        if current is None and not earlier:
            self.stdout.write(_nobody_due(frequency))
            return 0
        unfinished = 0
        for edition in [*earlier, *([current] if current else [])]:
            chunks = sending.resume_unfinished(edition)
            self.send_chunks(chunks, rate)
            counts = _counts(edition)
            unfinished += counts["planned"] + counts["sending"]
            self.stdout.write(_summary(edition, counts, new=bool(chunks)))
        return unfinished

    def resume_announcements(self, rate: sending.SendRate) -> int:
        """Announcements an outage left unfinished (without beat's sweep); returns how many
        deliveries are still unfinished."""
        unfinished = 0
        pending = [Delivery.Status.PLANNED, Delivery.Status.SENDING]
        for note in Announcement.objects.filter(deliveries__status__in=pending).distinct():
            self.send_chunks(sending.resume_unfinished(note), rate)
            left = note.deliveries.filter(status__in=pending).count()
            unfinished += left
            self.stdout.write(f"Announcement “{note}”: resumed, {left} still unfinished")
        return unfinished

    def send_chunks(self, chunks: list[list[int]], rate: sending.SendRate) -> None:
        total = sum(map(len, chunks))
        with tqdm(total=total, unit="digest", file=sys.stderr, disable=None, leave=False) as bar:
            for ids in chunks:
                try:
                    sending.send_chunk(ids, rate, progress=bar.update)
                except emails.TransientSendError as exc:
                    bar.write(f"⚠ {exc}")
                    return

    def rehearse(self, frequency: str, now: datetime, *, any_hour: bool) -> str:
        """What a real run would do now, in one paragraph."""
        slot = editions.closing(now, any_hour=any_hour)
        outcome: Counter[str] = Counter()
        due = [
            (period, reader)
            for period, readers in sending.due_readers(frequency, slot, any_hour=any_hour)
            for reader in readers
        ]
        for period, reader in tqdm(due, unit="digest", file=sys.stderr, disable=None, leave=False):
            outcome[_rehearsed(reader, period, slot)] += 1
        resumed = [_resume_line(e) for e in _unfinished_editions(frequency)]
        if due:
            summary = ", ".join(f"{n} {what}" for what, n in outcome.items())
            head = (
                f"Dry run: {len(due)} {frequency} readers are due at {slot:%H:%M} UTC: {summary}."
            )
        else:
            head = f"Dry run: {_nobody_due(frequency)}"
        return "\n".join([head, *resumed, "Nothing sent."])


def _rehearsed(reader: Subscriber, period: str, slot: datetime) -> str:
    start = editions.window_start(reader.previous_end, reader.created_at, slot)
    edition = Edition(
        frequency=reader.frequency, period=slot.date(), window_start=start, window_end=slot
    )
    papers = sending.EditionPapers.for_reader(start, slot, reader.listing)
    try:
        _, matches = previews.compose_for(reader, edition, papers)
    except QueryError:
        return "would fail (invalid keywords)"
    if matches or settings.DIGEST_SEND_EMPTY:
        return "would send"
    return "would skip (nothing matched)"


def _nobody_due(frequency: str) -> str:
    """No reader is due: when the next one is."""
    upcoming = sending.next_due(frequency, timezone.now() + editions.SLOT)
    if upcoming is None:
        return f"no {frequency} readers."
    return (
        f"no {frequency} reader is due now; the next are due at {upcoming:%a %b %-d %H:%M} "
        "UTC (--now sends to everyone who has had none this period)."
    )


def _unfinished_editions(frequency: str) -> list[Edition]:
    """Editions with deliveries not yet finished (a send that stopped on a mail outage)."""
    unfinished = [Delivery.Status.PLANNED, Delivery.Status.SENDING]
    editions = Edition.objects.filter(frequency=frequency, deliveries__status__in=unfinished)
    return list(editions.distinct().order_by("period"))


def _resume_line(edition: Edition) -> str:
    counts = _counts(edition)
    return (
        f"{edition.label}: {counts['planned'] + counts['sending']} unfinished deliveries "
        "would be resumed (those still claimed by a live worker are left to it)."
    )


def _counts(edition: Edition) -> Counter[str]:
    return Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))


def _tally(counts: Counter[str]) -> str:
    return f"{counts['sent']} sent, {counts['skipped']} skipped, {counts['failed']} failed"


def _summary(edition: Edition, counts: Counter[str], *, new: bool) -> str:
    unfinished = counts["planned"] + counts["sending"]
    return (
        f"{edition.label} (papers first seen {edition.window_start:%b %d %H:%M} to "
        f"{edition.window_end:%b %d %H:%M} UTC): {_tally(counts)}"
        + (f", {unfinished} still unfinished" if unfinished else "")
        + ("" if new else " (nothing new to send)")
    )


def _day(day: datetime) -> str:
    return f"{day:%a %b} {day.day}"
