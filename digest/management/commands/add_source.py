from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.ingest.arxiv_categories import HF_DAILY, UnknownCategory, arxiv_listing, choose
from digest.models import Source


class Command(BaseCommand):
    help = (
        "Add a source in one line: an arXiv listing of one or more categories "
        "(add_source arxiv cs.LG cs.CV) or the Hugging Face daily papers (add_source hf-daily)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["arxiv", "hf-daily"])
        parser.add_argument("categories", nargs="*", metavar="CATEGORY", help="e.g. cs.LG cs.CV")
        parser.add_argument("--name", default="", help="the source's name (one is made up)")

    def handle(
        self, *args: Any, what: str, categories: list[str], name: str, **options: Any
    ) -> None:
        if what == "hf-daily":
            if categories:
                raise CommandError("hf-daily takes no categories.")
            listing = HF_DAILY
        else:
            try:
                listing = arxiv_listing(choose(categories))
            except UnknownCategory as exc:
                raise CommandError(exc.message) from None
        source = Source.objects.filter(url=listing.url).first()
        if source is not None:
            self.stdout.write(f"Already a source: {source.name} ({listing.url}).")
            return
        name = name.strip() or listing.name
        if Source.objects.filter(name=name).exists():
            raise CommandError(f"A source is already named “{name}”; pass --name.")
        source = Source.objects.create(name=name, url=listing.url, kind=listing.kind)
        self.stdout.write(
            f"Added {source.name} ({listing.url}). It is fetched with the others on the schedule; "
            f"to fetch it now: .venv/bin/python manage.py ingest --source '{source.name}'"
        )
