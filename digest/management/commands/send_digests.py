from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from digest import sending
from digest.models import Delivery
from digest.query import QueryError
from subscribers.models import Subscriber

FREQUENCIES = ("daily", "weekly")


class Command(BaseCommand):
    help = (
        "Plan the current edition (closing its window now) and send it in this process, "
        "with progress and a summary. Safe to re-run: nobody gets an edition twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--frequency", choices=FREQUENCIES, help="only this edition (default: daily and weekly)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="match and compose every digest, send nothing, store nothing",
        )

    def handle(self, *args: Any, frequency: str | None, dry_run: bool, **options: Any) -> None:
        stuck = 0
        for name in [frequency] if frequency else FREQUENCIES:
            if dry_run:
                self.rehearse(name)
            else:
                stuck += self.send(name)
        if stuck:
            raise CommandError(
                f"{stuck} deliveries are still planned because the mail server "
                "was unavailable; the sweep retries them.",
                returncode=1,
            )

    def send(self, frequency: str) -> int:
        edition = sending.plan_edition(frequency)
        chunks = sending.dispatch(edition)
        total = sum(map(len, chunks))
        with tqdm(total=total, unit="digest", file=sys.stderr, disable=None, leave=False) as bar:
            for ids in chunks:
                try:
                    sending.send_chunk(ids)
                except sending.TransientSendError as exc:
                    bar.write(f"⚠ {exc}")
                    break
                bar.update(len(ids))
        counts = Counter(Delivery.objects.filter(edition=edition).values_list("status", flat=True))
        self.stdout.write(
            f"{edition.label} (papers first seen {edition.window_start:%b %d %H:%M} to "
            f"{edition.window_end:%b %d %H:%M} UTC): {counts['sent']} sent, "
            f"{counts['skipped']} skipped, {counts['failed']} failed"
            + (f", {counts['planned']} still planned" if counts["planned"] else "")
            + ("" if total else " (nothing new to send)")
        )
        return counts["planned"]

    def rehearse(self, frequency: str) -> None:
        edition = sending.upcoming_edition(frequency)
        papers = sending.EditionPapers.of(edition.papers())
        subscribers = Subscriber.objects.filter(status="active", paused=False, frequency=frequency)
        outcome: Counter[str] = Counter()
        for subscriber in tqdm(
            list(subscribers), unit="digest", file=sys.stderr, disable=None, leave=False
        ):
            try:
                _, matches = sending.compose_for(subscriber, edition, papers)
            except QueryError:
                outcome["invalid keywords"] += 1
                continue
            outcome["would send" if matches else "would skip (nothing matched)"] += 1
        summary = ", ".join(f"{n} {what}" for what, n in outcome.items()) or "no subscribers"
        self.stdout.write(
            f"Dry run, {frequency} edition closing now ({len(papers.papers)} new "
            f"papers): {summary}. Nothing sent."
        )
