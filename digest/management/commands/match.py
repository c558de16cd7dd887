from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.matching import profiles, vectors
from digest.matching.embeddings import ModelError
from digest.matching.index import Match, build_index
from digest.matching.query import Query, QueryError, parse_query
from digest.matching.seeds import parse_seed_text
from digest.matching.semantic import MeaningIndex, Profile
from digest.models import TEXT_FIELDS, Paper


class Command(BaseCommand):
    help = (
        "Show the papers a subscriber with this profile (keywords, an interest, papers they "
        "like) would get from recently ingested papers, ranked, with why each came."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "query",
            nargs="?",
            default="",
            help='keywords as a subscriber types them, e.g. "federated learning"',
        )
        parser.add_argument(
            "--interest", default="", help="what the reader works on, matched by meaning"
        )
        parser.add_argument(
            "--like",
            nargs="+",
            default=[],
            metavar="ARXIV_ID",
            help="papers the reader likes (arXiv ids or links, DOIs), stored ones only",
        )
        parser.add_argument(
            "--days", type=int, default=7, help="papers first seen in the last N days (7)"
        )
        parser.add_argument("--limit", type=int, default=10, help="at most N papers (10)")
        parser.add_argument(
            "--json", action="store_true", help="print a JSON list instead of a table"
        )

    def handle(
        self,
        *args: Any,
        query: str,
        interest: str,
        like: list[str],
        days: int,
        limit: int,
        json: bool,
        **options: Any,
    ) -> None:
        if days < 1 or limit < 1:
            raise CommandError("--days and --limit must be at least 1")
        parsed = self.parse(query, has_profile=bool(interest.strip() or like))
        rows = list(
            Paper.objects.recent(days)
            .order_by("-first_seen_at", "-id")
            .only(*TEXT_FIELDS, "key", "arxiv_id", "abs_url", "embedding", "embedded_with")
        )
        index = build_index([row.as_text() for row in rows])
        meaning = vectors.meaning_index(index, rows)
        profile = self.profile(interest, like, meaning)
        chosen = meaning.select(parsed, profile, limit)
        matches = [meaning.explain(parsed, profile, scored) for scored in chosen]
        by_id = {row.pk: row for row in rows}
        table = [as_row(rank, by_id[m.paper_id], m) for rank, m in enumerate(matches, start=1)]
        if json:
            self.stdout.write(dumps(table))
        elif not rows:
            self.stdout.write(
                f"No papers first seen in the last {days} days; run `manage.py ingest` "
                "or widen --days."
            )
        else:
            matched = index.count(parsed.topics) if parsed.topics else None
            self.write_table(table, matched=matched, searched=len(rows), days=days)

    def parse(self, query: str, *, has_profile: bool) -> Query:
        try:
            parsed = parse_query(query, filters=True)
        except QueryError as exc:
            raise CommandError(exc.message) from None
        if not parsed.topics and not has_profile:
            raise CommandError(
                'Give keywords, --interest "TEXT" or --like ARXIV_ID (or several of them).'
            )
        return parsed

    def profile(self, interest: str, like: list[str], meaning: MeaningIndex) -> Profile | None:
        if not interest.strip() and not like:
            return None
        seeds = parse_seed_text(" ".join(like))
        for problem in seeds.problems:
            self.stderr.write(problem)
        for ref in seeds.refs:
            if profiles.find_paper(ref) is None:
                self.stderr.write(f"{ref.label}: not a stored paper; ingest it first.")
        try:
            model = vectors.embedder() if interest.strip() else None
        except ModelError as exc:
            raise CommandError(str(exc)) from None
        if model is None and not meaning.model_name:
            raise CommandError(
                "No embedding model installed: run `python manage.py install_model`."
            )
        missing = int((~meaning.vectors.any(axis=1)).sum())
        if missing:
            self.stderr.write(
                f"{missing} of these papers have no vector yet (the embedding task, or "
                "`manage.py ingest`, makes them): they are matched by keywords only."
            )
        profile = (
            profiles.draft(interest, seeds.refs, model)
            if model
            else profiles.draft_from_seeds(seeds.refs, meaning.model_name)
        )
        if profile is None:
            raise CommandError(
                "None of the --like papers is stored and embedded; nothing to match."
            )
        return profile

    def write_table(
        self, rows: list[dict], *, matched: int | None, searched: int, days: int
    ) -> None:
        for row in rows:
            self.stdout.write(
                f"{row['rank']:>3}. {row['score']:>6.2f}  {row['key']}  {row['title']}"
            )
            topics = f" — topics: {', '.join(row['topics'])}" if row["topics"] else ""
            self.stdout.write(f"             {row['why']}{topics}")
        if matched is None:  # no keywords: every paper was ranked by meaning
            self.stdout.write(
                f"Ranked the {searched} papers first seen in the last {days} days by meaning; "
                f"showing the top {len(rows)}."
            )
            return
        self.stdout.write(
            f"{matched} of the {searched} papers first seen in the last {days} days "
            f"matched; showing the top {len(rows)}."
        )


def why(match: Match) -> str:
    """The explanation as the email gives it: the topics and words, and what it is like."""
    parts = []
    if match.topics:
        parts.append(f"matched: {', '.join(match.terms)} (in {', '.join(match.fields)})")
    if because := match.because():
        parts.append(because)
    return " · ".join(parts)


def as_row(rank: int, paper: Paper, match: Match) -> dict:
    return {
        "rank": rank,
        "key": paper.key,
        "arxiv_id": paper.arxiv_id or None,
        "title": paper.title,
        "score": match.score,
        "why": why(match),
        "breakdown": {
            "keyword": match.keyword,
            "similarity": match.similarity,
            "trending": match.trending,
            "recency": match.recency,
        },
        "cosine": match.cosine,
        "matched": list(match.terms),
        "topics": list(match.topics),
        "fields": list(match.fields),
        "url": paper.abs_url or None,
    }


def dumps(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2)
