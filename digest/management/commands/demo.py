from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse
from django.utils import timezone

from digest.delivery.links import view_url
from digest.ingest import arxiv_categories, sources
from digest.management.progress import bar
from digest.matching import profiles, vectors
from digest.matching.embeddings import ModelError
from digest.matching.seeds import parse_seed_text
from digest.models import Delivery, Source
from subscribers import links
from subscribers.models import Subscriber

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def demo_sources() -> list[tuple[arxiv_categories.Listing, str]]:
    """The sources the bundled samples come from, as add_source would make them."""
    return [
        (arxiv_categories.arxiv_listing(arxiv_categories.choose(["cs.LG"])), "arxiv-cs-lg.xml"),
        (arxiv_categories.HF_DAILY, "hf-daily.json"),
    ]


DEMO_SUBSCRIBERS = [
    ("ada@example.org", "federated learning\npruning", "daily", 10),
    ("grace@example.org", '"mixture of experts"\ndiffusion OR "data selection"', "daily", 5),
    ("alan@example.org", "title:global -federated\nfair*", "weekly", 10),
    ("katherine@example.org", "quantum error correction", "daily", 10),  # nothing matches
    ("hedy@example.org", "", "daily", 5),  # no keywords: the most upvoted papers
]
# Readers matched by meaning: one with papers they like and no keywords, one with an interest
# (in words the papers never use) and a filter line.
DEMO_PROFILES = [
    ("marie@example.org", "", "2403.05248\n2403.05840", "", "daily", 5),
    (
        "emmy@example.org",
        "-survey",
        "",
        "helping doctors recognise illness from clinical imagery",
        "daily",
        5,
    ),
]


def manage_command(arguments: str) -> str:
    """A manage.py command line that works as printed from another shell in this folder: this
    Python (the virtualenv's, activated or not), and the settings that differ from a fresh
    shell's (the port in SITE_URL, a moved VAR_DIR or database)."""
    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = sys.executable
    differ = [name for name in ("VAR_DIR", "DATABASE_URL") if os.environ.get(name)]
    if settings.SITE_URL != settings.DEFAULT_SITE_URL:
        differ.insert(0, "SITE_URL")
    prefix = "".join(f"{name}={shlex.quote(os.environ[name])} " for name in differ)
    return f"{prefix}{python} manage.py {arguments}"


class Command(BaseCommand):
    help = (
        "Load the bundled sample feeds, create demo subscribers and send their digests to the "
        "local outbox (no network needed). Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Ingesting the bundled sample feeds…")
        for listing, filename in demo_sources():
            source, _ = Source.objects.get_or_create(
                name=listing.name, defaults={"url": listing.url, "kind": listing.kind}
            )
            result = sources.ingest_file(SAMPLES / filename, kind=listing.kind, source=source)
            self.stdout.write(f"  {result.summary()}")
        self.stdout.write("Demo subscribers (already confirmed):")
        for email, query, frequency, per_email in DEMO_SUBSCRIBERS:
            Subscriber.objects.get_or_create(
                email=email,
                defaults={
                    "query": query,
                    "frequency": frequency,
                    "per_email": per_email,
                    "status": "active",
                    "confirmed_at": timezone.now(),
                },
            )
            wants = query.replace(chr(10), " | ") or "no keywords: the most upvoted papers"
            self.stdout.write(f"  {email} ({frequency}): {wants}")
        self.add_profiles()
        self.stdout.write("Sending their digests…")
        # Now, whatever the hour: each reader's own send time would be hours away.
        call_command("send_digests", now=True, stdout=self.stdout, stderr=self.stderr)
        self.report()

    def add_profiles(self) -> None:
        try:
            model = vectors.embedder()
        except ModelError as exc:
            self.stderr.write(f"Skipping the readers matched by meaning: {exc}")
            return
        with bar(desc="Embedding papers", unit="paper") as embedding:
            done = profiles.catch_up(model, progress=embedding.update)
        self.stdout.write(f"  {done.summary()}")
        for email, query, seeds, interest, frequency, per_email in DEMO_PROFILES:
            subscriber, created = Subscriber.objects.get_or_create(
                email=email,
                defaults={
                    "query": query,
                    "interest": interest,
                    "frequency": frequency,
                    "per_email": per_email,
                    "status": "active",
                    "confirmed_at": timezone.now(),
                },
            )
            if created:
                profiles.set_seeds(subscriber, parse_seed_text(seeds).refs)
                profiles.refresh(subscriber, model, fetch=False)
            liked = f"likes {seeds.replace(chr(10), ', ')}" if seeds else f"interest “{interest}”"
            self.stdout.write(f"  {email} ({frequency}): {liked}{' | ' + query if query else ''}")

    def report(self) -> None:
        outbox = Path(settings.EMAIL_FILE_PATH)
        if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
            self.stdout.write(
                f"Emails are in {outbox}/ (raw MIME; one .log file per sending batch)."
            )
        self.stdout.write("Open the digests in your browser:")
        for delivery in Delivery.objects.filter(status=Delivery.Status.SENT).select_related(
            "subscriber", "edition"
        ):
            self.stdout.write(
                f"  {delivery.subscriber.email}, {delivery.edition.label}: {view_url(delivery)}"
            )
        self.stdout.write(
            "  Press “More like this” or “Less like this” under any paper there: the reader's "
            "preferences page then previews with it and lists it on their interest card."
        )
        self.stdout.write("Preferences pages (the link in every email):")
        emails = [s[0] for s in DEMO_SUBSCRIBERS] + [p[0] for p in DEMO_PROFILES]
        for subscriber in Subscriber.objects.filter(email__in=emails):
            self.stdout.write(f"  {subscriber.email}: {links.manage_url(subscriber)}")
        self.stdout.write(
            "Preview any subscriber's next digest: "
            + manage_command("preview_digest ada@example.org --html /tmp/digest.html")
        )
        self.stdout.write(
            "Rank recent papers by meaning: "
            + manage_command('match --interest "privacy-preserving distributed training" --limit 5')
        )
        self.stdout.write(
            f"Admin: {settings.SITE_URL}{reverse('admin:index')} "
            f"(create a login with: {manage_command('createsuperuser')})"
        )
        self.stdout.write(self.style.SUCCESS(f"Demo ready. Landing page: {settings.SITE_URL}/"))
