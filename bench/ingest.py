"""Ingest a generated 10,000-entry arXiv RSS file and compare with bare feedparser time.

    python bench/ingest.py [--entries N]

Prints one JSON line. Targets: ratio (ingest / bare parse) <= 1.5; reingest_ratio <= 0.1.
"""

from __future__ import annotations

import argparse
import statistics

from common import emit, setup_django, throwaway_database, timed

setup_django()

import feedparser  # noqa: E402
from django.db import connection  # noqa: E402

from digest.ingest import sources  # noqa: E402
from digest.models import Paper, Source  # noqa: E402
from tests.support.feedgen import arxiv_rss, synthetic_papers  # noqa: E402


def bare_parse(body: bytes) -> float:
    runs = [
        timed(lambda: feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False))[0]
        for _ in range(3)
    ]
    return statistics.median(runs)


def full_ingest(body: bytes) -> float:
    runs = []
    for _ in range(3):
        Paper.objects.all().delete()
        Source.objects.all().delete()
        source = Source.objects.create(
            name="bench", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss"
        )
        seconds, result = timed(
            lambda source=source: sources.ingest_body(
                body, label="bench", kind="arxiv-rss", source=source
            )
        )
        assert result.new == Paper.objects.count(), result
        runs.append(seconds)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    entries = parser.parse_args().entries
    papers = synthetic_papers(entries)
    body = arxiv_rss(papers).encode()
    changed = arxiv_rss(
        [
            *papers[:-1],
            dict(papers[-1], version=papers[-1]["version"] + 1, abstract="A revised abstract."),
        ]
    ).encode()
    with throwaway_database() as vendor:
        parse_s = bare_parse(body)
        ingest_s = full_ingest(body)
        source = Source.objects.get()
        reingest_s, result = timed(
            lambda: sources.ingest_body(body, label="bench", kind="arxiv-rss", source=source)
        )
        assert result.status == Source.Status.NOT_MODIFIED
        changed_s, result = timed(
            lambda: sources.ingest_body(changed, label="bench", kind="arxiv-rss", source=source)
        )
        assert (result.updated, result.unchanged) == (1, entries - 1), result
        emit(
            {
                "bench": "ingest",
                "entries": entries,
                "bytes": len(body),
                "parse_s": round(parse_s, 3),
                "ingest_s": round(ingest_s, 3),
                "ratio": round(ingest_s / parse_s, 3),
                "reingest_s": round(reingest_s, 4),
                "reingest_ratio": round(reingest_s / parse_s, 4),
                "changed_reingest_s": round(changed_s, 3),
                "changed_reingest_ratio": round(changed_s / parse_s, 3),
                "db": connection.vendor if vendor else vendor,
            }
        )


if __name__ == "__main__":
    main()
