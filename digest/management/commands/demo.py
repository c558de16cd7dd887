from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from digest import ingest
from digest.models import Source

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
DEMO_SOURCES = [
    ("arXiv cs.LG", "https://rss.arxiv.org/rss/cs.LG", Source.Kind.ARXIV_RSS, "arxiv-cs-lg.xml"),
    (
        "Hugging Face daily papers",
        "https://huggingface.co/api/daily_papers",
        Source.Kind.HF_DAILY,
        "hf-daily.json",
    ),
]


class Command(BaseCommand):
    help = "Load the bundled sample feeds (no network needed) so the site has papers to show."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, url, kind, filename in DEMO_SOURCES:
            source, _ = Source.objects.get_or_create(name=name, defaults={"url": url, "kind": kind})
            result = ingest.ingest_file(SAMPLES / filename, kind=kind, source=source)
            self.stdout.write(f"  {result.summary()}")
        self.stdout.write(self.style.SUCCESS(f"Demo ready. Landing page: {settings.SITE_URL}/"))
