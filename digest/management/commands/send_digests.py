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
from digest.models import Delivery, Edition, Frequency
from lib import emails
from subscribers.models import Subscriber


class Command(BaseCommand):
    help = (
        "Plan the current edition (closing its window now), resume any unfinished deliveries, "
        "and send them in this process with progress and a summary. Safe to re-run: nobody "
        "gets an edition twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--frequency",
            choices=Frequency.values,
            help="only this edition (default: daily and weekly)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="say what a real run would do now, composing every digest; send and store nothing",
        )

    def handle(self, *args: Any, frequency: str | None, dry_run: bool, **options: Any) -> None:
        frequencies = [frequency] if frequency else Frequency.values
        if dry_run:
            for name in frequencies:
                self.stdout.write(self.rehearse(name, timezone.now()))
            return
        rate = shared_send_rate()  # one window for the whole run
        try:
            stuck = sum(self.send(name, rate) for name in frequencies)
        finally:
            rate.close()
        if stuck:
            raise CommandError(
                f"{stuck} deliveries are unfinished because the mail server was unavailable; "
                "run this command again to resume them (beat's sweep also retries them).",
                returncode=1,
            )

    def send(self, frequency: str, rate: sending.SendRate) -> int:
        """Plan and send the due edition and resume unfinished ones; returns how many are
        still unfinished."""
        current = sending.plan_edition(frequency)
        earlier = [e for e in _unfinished_editions(frequency) if e.pk != current.pk]
        unfinished = 0
        for edition in [*earlier, current]:
            chunks = sending.resume_unfinished(edition)
            self.send_chunks(chunks, rate)
            counts = _counts(edition)
            unfinished += counts["planned"] + counts["sending"]
            self.stdout.write(_summary(edition, counts, new=bool(chunks)))
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

    def rehearse(self, frequency: str, now: datetime) -> str:
        """What a real run would do now, in one paragraph."""
        period = editions.period_of(frequency, now)
        existing = Edition.objects.filter(frequency=frequency, period=period).first()
        resumed = [_resume_line(e) for e in _unfinished_editions(frequency)]
        if existing is not None and existing.planned_at is not None:
            upcoming = editions.next_period(frequency, period)
            lines = [
                f"Dry run: {existing.label} is already planned ({_tally(_counts(existing))}); "
                f"the next {frequency} edition is {_day(upcoming)}.",
                *resumed,
            ]
            return "\n".join(lines) if resumed else lines[0] + " Nothing would be sent now."
        return "\n".join([self.rehearse_new(frequency, now), *resumed, "Nothing sent."])

    def rehearse_new(self, frequency: str, now: datetime) -> str:
        edition = previews.upcoming_edition(frequency, now)
        papers = sending.EditionPapers.of(edition.papers())
        subscribers = Subscriber.objects.filter(
            status=Subscriber.Status.ACTIVE, paused=False, frequency=frequency
        )
        outcome: Counter[str] = Counter()
        for subscriber in tqdm(
            list(subscribers), unit="digest", file=sys.stderr, disable=None, leave=False
        ):
            outcome[_rehearsed(subscriber, edition, papers)] += 1
        summary = ", ".join(f"{n} {what}" for what, n in outcome.items()) or "no subscribers"
        return (
            f"Dry run: {edition.label} would open now, covering {len(papers.papers)} papers "
            f"first seen since {edition.window_start:%b %d %H:%M} UTC: {summary}."
        )


def _rehearsed(subscriber: Subscriber, edition: Edition, papers: sending.EditionPapers) -> str:
    try:
        _, matches = previews.compose_for(subscriber, edition, papers)
    except QueryError:
        return "would fail (invalid keywords)"
    if matches or settings.DIGEST_SEND_EMPTY:
        return "would send"
    return "would skip (nothing matched)"


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
