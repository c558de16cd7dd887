from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.ingest import readers, sources
from digest.ingest.sources import IngestResult
from digest.management.progress import bar, progress, say
from digest.matching import profiles, vectors
from digest.models import Source

Job = tuple[str, Callable[[], IngestResult]]


class Command(BaseCommand):
    help = (
        "Fetch and ingest every enabled source, the named sources, or local files "
        "(ingested as if fetched). Prints new/updated/unchanged/rejected counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source",
            action="append",
            default=[],
            metavar="NAME",
            help="ingest this source only (repeatable); with --file, attribute the files to it",
        )
        parser.add_argument(
            "--file",
            action="append",
            default=[],
            type=Path,
            metavar="PATH",
            help="a feed file, or a directory of them (repeatable)",
        )
        parser.add_argument(
            "--kind",
            choices=list(readers.KINDS),
            help="kind of the --file inputs; detected from content if omitted",
        )

    def handle(
        self, *args: Any, source: list[str], file: list[Path], kind: str | None, **options: Any
    ) -> None:
        self.verbose = options["verbosity"] > 1
        jobs = self.file_jobs(file, kind, source) if file else self.source_jobs(source)
        if not jobs:
            self.stdout.write("No enabled sources. Add one in the admin, or pass --file PATH.")
            return
        results = [self.run_one(label, run) for label, run in progress(jobs, unit="input")]
        if any(r.new or r.updated for r in results):
            self.embed()
        self.summarize(results)

    def embed(self) -> None:
        """What a worker does after an ingest: embed the new papers (then send_digests from
        the command line matches them by meaning too)."""
        model = vectors.available()
        if model is None:
            self.stdout.write(
                "No embedding model installed: new papers are matched by keywords only "
                "(python manage.py install_model)."
            )
            return
        with bar(desc="Embedding", unit="paper") as embedding:
            done = profiles.catch_up(model, progress=embedding.update)
        self.stdout.write(f"Embedded {done.embedded} papers; made {done.profiles} profiles.")

    def source_jobs(self, names: list[str]) -> list[Job]:
        chosen = (
            Source.objects.filter(name__in=names) if names else Source.objects.filter(enabled=True)
        )
        missing = set(names) - {s.name for s in chosen}
        if missing:
            raise CommandError(
                f"unknown source {', '.join(sorted(missing))}; known: {self.known()}"
            )
        return [(s.name, lambda s=s: sources.ingest_source(s)) for s in chosen]

    def file_jobs(self, paths: list[Path], kind: str | None, names: list[str]) -> list[Job]:
        if len(names) > 1:
            raise CommandError("--file takes at most one --source to attribute the papers to")
        source = None
        if names:
            source = Source.objects.filter(name=names[0]).first()
            if source is None:
                raise CommandError(f"unknown source {names[0]}; known: {self.known()}")
        return [
            (str(p), lambda p=p: sources.ingest_file(p, kind=kind, source=source))
            for p in expand_paths(paths)
        ]

    def run_one(self, label: str, run: Callable[[], IngestResult]) -> IngestResult:
        result = run()
        mark = self.style.ERROR("✗") if result.error else self.style.SUCCESS("✓")
        say(self.stdout, f"{mark} {result.summary()}")
        if self.verbose:
            for note in result.notes:
                say(self.stdout, f"    {note}")
        return result

    def summarize(self, results: list[IngestResult]) -> None:
        failed = [r for r in results if r.error]
        totals = {
            name: sum(getattr(r, name) for r in results)
            for name in ("new", "updated", "unchanged", "rejected")
        }
        self.stdout.write(
            f"Ingested {len(results) - len(failed)} of {len(results)} inputs: "
            f"{totals['new']} new, {totals['updated']} updated, {totals['unchanged']} unchanged, "
            f"{totals['rejected']} rejected entries; {len(failed)} failed."
        )
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(results)} inputs could not be ingested", returncode=1
            )

    def known(self) -> str:
        return ", ".join(Source.objects.values_list("name", flat=True)) or "(none yet)"


def expand_paths(paths: list[Path]) -> list[Path]:
    """Directories stand for the files directly inside them (hidden files skipped)."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
            )
        else:
            expanded.append(path)
    return expanded
