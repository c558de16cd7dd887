from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.ingest.arxiv_categories import UnknownCategory, choose, listing_url
from digest.models import Source

HF_DAILY = ("Hugging Face daily papers", "https://huggingface.co/api/daily_papers")


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
            default_name, url, kind = *HF_DAILY, Source.Kind.HF_DAILY
        else:
            try:
                chosen = choose(categories)
            except UnknownCategory as exc:
                raise CommandError(exc.message) from None
            codes = " ".join(c.code for c in chosen)
            default_name, url, kind = f"arXiv {codes}", listing_url(chosen), Source.Kind.ARXIV_RSS
        source = Source.objects.filter(url=url).first()
        if source is not None:
            self.stdout.write(f"Already a source: {source.name} ({url}).")
            return
        name = name.strip() or default_name
        if Source.objects.filter(name=name).exists():
            raise CommandError(f"A source is already named “{name}”; pass --name.")
        source = Source.objects.create(name=name, url=url, kind=kind)
        self.stdout.write(
            f"Added {source.name} ({url}). It is fetched with the others on the schedule; to "
            f"fetch it now: .venv/bin/python manage.py ingest --source '{source.name}'"
        )
