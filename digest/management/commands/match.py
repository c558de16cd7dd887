from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from digest.matching.index import Match, build_index, match_papers
from digest.matching.query import QueryError, parse_query
from digest.models import Paper


class Command(BaseCommand):
    help = (
        "Show the papers a subscriber with these keywords would get from recently ingested "
        "papers, ranked, with what matched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "query", help='keywords as a subscriber types them, e.g. "federated learning"'
        )
        parser.add_argument(
            "--days", type=int, default=7, help="papers first seen in the last N days (7)"
        )
        parser.add_argument("--limit", type=int, default=10, help="at most N papers (10)")
        parser.add_argument(
            "--json", action="store_true", help="print a JSON list instead of a table"
        )

    def handle(
        self, *args: Any, query: str, days: int, limit: int, json: bool, **options: Any
    ) -> None:
        try:
            parsed = parse_query(query)
        except QueryError as exc:
            raise CommandError(exc.message) from None
        if days < 1 or limit < 1:
            raise CommandError("--days and --limit must be at least 1")
        texts = Paper.objects.recent(days).texts()
        index = build_index(texts)
        matches = match_papers(parsed, index, limit)
        papers = Paper.objects.in_bulk([m.paper_id for m in matches])
        rows = [as_row(rank, papers[m.paper_id], m) for rank, m in enumerate(matches, start=1)]
        if json:
            self.stdout.write(dumps(rows))
        elif not texts:
            self.stdout.write(
                f"No papers first seen in the last {days} days; run `manage.py ingest` "
                "or widen --days."
            )
        else:
            self.write_table(
                rows, matched=index.count(parsed.topics), searched=len(texts), days=days
            )

    def write_table(self, rows: list[dict], *, matched: int, searched: int, days: int) -> None:
        for row in rows:
            self.stdout.write(
                f"{row['rank']:>3}. {row['score']:>6.2f}  {row['key']}  {row['title']}"
            )
            self.stdout.write(
                f"             matched: {', '.join(row['matched'])} "
                f"(in {', '.join(row['fields'])}) — topics: {', '.join(row['topics'])}"
            )
        self.stdout.write(
            f"{matched} of the {searched} papers first seen in the last {days} days "
            f"matched; showing the top {len(rows)}."
        )


def as_row(rank: int, paper: Paper, match: Match) -> dict:
    return {
        "rank": rank,
        "key": paper.key,
        "arxiv_id": paper.arxiv_id or None,
        "title": paper.title,
        "score": match.score,
        "matched": list(match.terms),
        "topics": list(match.topics),
        "fields": list(match.fields),
        "url": paper.abs_url or None,
    }


def dumps(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2)
