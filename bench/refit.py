"""The nightly refit of readers' own models (profiles.refit_due, the digest.refit_models task).

    python bench/refit.py [--readers 100000] [--papers 2000]

A throwaway database gets --papers papers (the seed page's text, with random unit vectors
standing in for embeddings: the cost does not depend on what they mean) and --readers active
readers, each with new ratings since their last fit (6 "more like this" and 4 "less", enough
for a model of their own) and their latest 10 digests of 10 papers (the shown-and-ignored
papers the fit takes as weak negatives). Figures: the refit's wall time for all of them, per
reader, the queries per reader, and how many got a model. Run it against PostgreSQL
(DATABASE_URL) for production figures.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from common import ROOT, emit, setup_django, throwaway_database

setup_django()

from django.db import connection  # noqa: E402

from digest.matching import profiles  # noqa: E402
from digest.matching.embeddings import pack  # noqa: E402
from digest.models import Delivery, Edition, Paper  # noqa: E402
from subscribers.models import Feedback, Subscriber  # noqa: E402

MODEL = "bench-model"
DIMENSIONS = 384
LIKED, DISLIKED, DIGESTS, PER_DIGEST = 6, 4, 10, 10
NIGHT = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
BATCH = 5000


def load(readers: int, paper_count: int) -> None:
    seed = json.loads((ROOT / "tests" / "data" / "seed_papers.json").read_text())["papers"]
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((paper_count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Paper.objects.bulk_create(
        [
            Paper(
                key=f"bench:{n}",
                title=seed[n % len(seed)]["title"],
                abstract=seed[n % len(seed)]["abstract"],
                upvotes=n % 50,
                first_seen_at=NIGHT - timedelta(days=n % 10),
                embedding=pack(vectors[n]),
                embedded_with=MODEL,
            )
            for n in range(paper_count)
        ],
        batch_size=BATCH,
    )
    papers = list(Paper.objects.values_list("pk", flat=True))
    Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"reader{n}@example.org",
                email_key=f"reader{n}@example.org",
                status="active",
                query="learning\nmodels",
                rated_at=NIGHT - timedelta(hours=1),
            )
            for n in range(readers)
        ],
        batch_size=BATCH,
    )
    editions = [
        Edition.objects.create(
            frequency="daily",
            period=(NIGHT - timedelta(days=d)).date(),
            window_start=NIGHT - timedelta(days=d + 1),
            window_end=NIGHT - timedelta(days=d),
        )
        for d in range(DIGESTS)
    ]
    pick = random.Random(7)
    for start in range(0, readers, BATCH // DIGESTS):
        ids = Subscriber.objects.order_by("pk").values_list("pk", flat=True)[
            start : start + BATCH // DIGESTS
        ]
        deliveries, ratings = [], []
        for pk in ids:
            shown = pick.sample(papers, DIGESTS * PER_DIGEST)
            for d, edition in enumerate(editions):
                deliveries.append(
                    Delivery(
                        subscriber_id=pk,
                        edition=edition,
                        period=edition.period.isoformat(),
                        status="sent",
                        paper_ids=shown[d * PER_DIGEST : (d + 1) * PER_DIGEST],
                    )
                )
            for i, paper in enumerate(shown[: LIKED + DISLIKED]):
                action = "more" if i < LIKED else "less"
                ratings.append(Feedback(subscriber_id=pk, paper_id=paper, action=action))
        Delivery.objects.bulk_create(deliveries, batch_size=BATCH)
        Feedback.objects.bulk_create(ratings, batch_size=BATCH)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


class Counted:
    """An execute wrapper counting queries (Django keeps only the last 9,000 it captures)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=2_000)
    args = parser.parse_args()
    with throwaway_database() as vendor:
        started = time.perf_counter()
        load(args.readers, args.papers)
        loaded = time.perf_counter() - started
        queries = Counted()
        with connection.execute_wrapper(queries):
            started = time.perf_counter()
            fitted = profiles.refit_due(MODEL)
            refit_s = time.perf_counter() - started
        again = time.perf_counter()
        profiles.refit_due(MODEL)  # nothing is due now: the cost of a night with no news
        idle_s = time.perf_counter() - again
        emit(
            {
                "bench": "refit",
                "database": vendor,
                "readers": args.readers,
                "ratings_per_reader": LIKED + DISLIKED,
                "digests_per_reader": DIGESTS,
                "load_s": round(loaded, 1),
                "refit_s": round(refit_s, 1),
                "per_reader_ms": round(1000 * refit_s / args.readers, 2),
                "queries_per_reader": round(queries.count / args.readers, 1),
                "fitted": fitted,
                "nothing_due_s": round(idle_s, 2),
            }
        )


if __name__ == "__main__":
    main()
