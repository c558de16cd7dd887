"""Select every subscriber's digest from one edition: 1,000 papers, 1,000,000 subscribers.

    python bench/match.py [--subscribers N] [--papers N] [--workers N]

Queries are 1-5 topics drawn with a long tail (Zipf) from terms and phrases that occur in the
seed abstracts: bare words, word pairs, phrases, prefixes, exclusions, OR and field scopes.
Selection runs in --workers processes, each building its own index like a Celery worker.
The naive figure tests each query against each paper on a sample, in the same run, and the
two must agree. Targets: 1,000,000 digests in under 20 s, >= 100x naive, under 2 GiB.

The semantic run gives every subscriber a profile vector too (clustered unit vectors, as
embeddings are) and selects their top 10 by keywords and meaning, a chunk of readers at a
time (semantic.MeaningIndex.select_many); beside it, in the same processes, a bare NumPy
matmul + argpartition of the same shapes. Target: select_s <= 1.5x bare, under 2 GiB.
--rated SHARE makes that share of readers ones who rated papers, half of them with a model of
their own (learning.py), to show what learning costs a chunk.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import emit
from digest.matching.index import PaperText, build_index
from digest.matching.query import QueryError, parse_query
from digest.matching.semantic import EXTRA, MeaningIndex
from tests.support import naive
from tests.support.feedgen import synthetic_papers
from tests.support.papers import as_paper_text

STOPWORDS = {
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "been",
    "by",
    "can",
    "for",
    "from",
    "has",
    "have",
    "in",
    "into",
    "is",
    "it",
    "its",
    "of",
    "on",
    "or",
    "our",
    "that",
    "the",
    "their",
    "these",
    "this",
    "to",
    "we",
    "which",
    "with",
    "while",
    "without",
    "more",
    "most",
    "such",
    "than",
    "then",
    "they",
    "also",
    "both",
    "each",
    "however",
    "using",
    "based",
    "via",
    "only",
    "not",
    "over",
    "under",
    "between",
    "may",
    "when",
    "where",
    "how",
    "what",
    "new",
    "two",
    "one",
}
LIMITS = [5] * 2 + [10] * 7 + [20]


def build_papers(count: int) -> list[PaperText]:
    now = time.time()
    return [
        as_paper_text(i, p, published=None if i % 7 == 0 else _date(now - i * 60))
        for i, p in enumerate(synthetic_papers(count))
    ]


def _date(stamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC)


def topic_pool(papers: list[PaperText], rng: random.Random) -> list[str]:
    """Topics as people write them, most common first (the Zipf draw favours the head)."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    for p in papers[:300]:
        tokens = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]{2,}", p.abstract)]
        unigrams.update(t for t in tokens if t not in STOPWORDS)
        bigrams.update(
            f"{a} {b}"
            for a, b in itertools.pairwise(tokens)
            if a not in STOPWORDS and b not in STOPWORDS
        )
    words = [w for w, _ in unigrams.most_common(600)]
    pairs = [b for b, _ in bigrams.most_common(400)]
    authors = sorted({a.split()[-1] for p in papers for a in p.authors})
    categories = sorted({c for p in papers for c in p.categories})
    pool = []
    for rank in range(900):
        shape = rng.random()
        if shape < 0.30:
            pool.append(words[rank % len(words)])
        elif shape < 0.50:
            pool.append(pairs[rank % len(pairs)])
        elif shape < 0.65:
            pool.append(f'"{pairs[rank % len(pairs)]}"')
        elif shape < 0.72:
            pool.append(words[rank % len(words)].split("-")[0][:5] + "*")
        elif shape < 0.80:
            pool.append(f"{rng.choice(words[:200])} -{rng.choice(words[:200])}")
        elif shape < 0.86:
            pool.append(f'{rng.choice(words)} OR "{rng.choice(pairs)}"')
        elif shape < 0.92:
            pool.append(f"title:{words[rank % len(words)]}")
        elif shape < 0.96:
            pool.append(f"category:{rng.choice(categories)} {rng.choice(words[:300])}")
        else:
            pool.append(f"author:{rng.choice(authors)}")
    return [topic for topic in pool if _valid(topic)]


def _valid(topic: str) -> bool:
    try:
        parse_query(topic)
    except QueryError:
        return False
    return True


def make_queries(pool: list[str], count: int, rng: random.Random) -> list[tuple[str, int]]:
    weights, total = [], 0.0
    for rank in range(len(pool)):
        total += 1.0 / (rank + 1) ** 1.07
        weights.append(total)
    queries = []
    for _ in range(count):
        topics = rng.choices(pool, cum_weights=weights, k=rng.choice((1, 1, 2, 2, 3, 3, 4, 5)))
        queries.append(("\n".join(topics), rng.choice(LIMITS)))
    return queries


# Set before forking so every worker shares the same objects copy-on-write.
PAPERS: list[PaperText] = []
QUERIES: list[tuple[str, int]] = []


def select_slice(bounds: tuple[int, int]) -> tuple[int, int, float]:
    start, stop = bounds
    started = time.perf_counter()
    index = build_index(PAPERS)
    nonempty = selected = 0
    for text, limit in QUERIES[start:stop]:
        chosen = index.select(index.query(text).topics, limit)
        nonempty += bool(chosen)
        selected += len(chosen)
    return nonempty, selected, time.perf_counter() - started


DIMENSIONS, CLUSTERS, CHUNK, SEMANTIC_LIMIT = 384, 40, 1000, 10


def paper_vectors(count: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((CLUSTERS, DIMENSIONS))
    vectors = centers[rng.integers(0, CLUSTERS, count)] + 1.2 * rng.standard_normal(
        (count, DIMENSIONS)
    )
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def profile_chunk(vectors: np.ndarray, start: int, size: int) -> np.ndarray:
    """Readers' profiles: each near one or two papers (like their seeds), float16 as stored."""
    rng = np.random.default_rng(start)
    near = vectors[rng.integers(0, len(vectors), size)]
    profiles = near + 0.06 * rng.standard_normal((size, DIMENSIONS))
    profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
    return profiles.astype(np.float16)


def semantic_slice(bounds: tuple[int, int, float]) -> tuple[float, float, int, int]:
    """(blend seconds, bare seconds, readers with a meaning-only paper, papers selected)."""
    start, stop, rated_share = bounds
    vectors = paper_vectors(len(PAPERS))
    meaning = MeaningIndex(build_index(PAPERS), vectors)
    chunks = [profile_chunk(vectors, i, min(CHUNK, stop - i)) for i in range(start, stop, CHUNK)]
    started = time.perf_counter()
    by_meaning = selected = 0
    for chunk, i in zip(chunks, range(start, stop, CHUNK), strict=True):
        queries = [meaning.index.query(text) for text, _ in QUERIES[i : i + len(chunk)]]
        digests = meaning.select_many(
            queries, chunk.astype(np.float32), SEMANTIC_LIMIT, **ratings(len(chunk), rated_share)
        )
        selected += len(digests.papers)
        by_meaning += sum(
            any(s.paper not in _keyword_set(meaning, q) for s in digests.row(r))
            for r, q in enumerate(queries[:20])
        )
    blend_s = time.perf_counter() - started
    started = time.perf_counter()
    for chunk in chunks:
        scores = chunk.astype(np.float32) @ vectors.T
        np.argpartition(scores, -SEMANTIC_LIMIT, axis=1)[:, -SEMANTIC_LIMIT:]
    bare_s = time.perf_counter() - started
    return blend_s, bare_s, by_meaning, selected


def ratings(rows: int, share: float) -> dict:
    """select_many's options for a chunk where `share` of the readers rated papers, and half
    of those have a model of their own (small random weights for its extra features)."""
    if not share:
        return {}
    rng = np.random.default_rng(rows)
    rated = rng.random(rows) < share
    with_model = rated & (rng.random(rows) < 0.5)
    models = [rng.normal(0, 0.3, len(EXTRA)) if m else None for m in with_model]
    return {"rated": rated.tolist(), "models": models}


def _keyword_set(meaning: MeaningIndex, query) -> set[int]:
    return set(np.flatnonzero(meaning.keyword_scores(query)).tolist())


def run_semantic(slices: list[tuple[int, int]], workers: int, rated: float = 0.0) -> dict:
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(semantic_slice, [(start, stop, rated) for start, stop in slices])
    wall_s = time.perf_counter() - started
    blend_s = max(r[0] for r in results)
    bare_s = max(r[1] for r in results)
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "select_s": round(blend_s, 2),
        "bare_matmul_argpartition_s": round(bare_s, 2),
        "ratio_to_bare": round(blend_s / bare_s, 2),
        "wall_s_with_setup": round(wall_s, 1),
        "sampled_digests_with_meaning_only_papers": sum(r[2] for r in results),
        "avg_papers_per_digest": round(sum(r[3] for r in results) / len(QUERIES), 2),
        "peak_rss_mb": round(child_kb / 1024, 1),
    }


def run_naive(sample: list[tuple[str, int]]) -> float:
    """The naive rate in one process, on a sample; its digests must equal the index's."""
    index = build_index(PAPERS)
    prepared = [naive.prepare(p) for p in PAPERS]
    started = time.perf_counter()
    slow = [
        naive.naive_select(parse_query(text), prepared, index.quality, limit)
        for text, limit in sample
    ]
    naive_s = time.perf_counter() - started
    fast = [index.select(index.query(text).topics, limit) for text, limit in sample]
    assert [[p for _, p in r] for r in fast] == [[p for _, p in r] for r in slow], "index != naive"
    return len(sample) / naive_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--no-semantic", action="store_true", help="skip the semantic run")
    parser.add_argument(
        "--rated", type=float, default=0.0, help="share of readers who rated papers (semantic)"
    )
    args = parser.parse_args()

    rng = random.Random(42)
    PAPERS[:] = build_papers(args.papers)
    QUERIES[:] = make_queries(topic_pool(PAPERS, rng), args.subscribers, rng)

    started = time.perf_counter()
    build_index(PAPERS)
    index_s = time.perf_counter() - started

    step = -(-len(QUERIES) // args.workers)
    slices = [(i, min(i + step, len(QUERIES))) for i in range(0, len(QUERIES), step)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(select_slice, slices)
    select_s = time.perf_counter() - started

    naive_per_s = run_naive(QUERIES[: args.naive_sample])
    semantic = run_semantic(slices, args.workers, args.rated) if not args.no_semantic else None
    per_process_per_s = args.subscribers / sum(r[2] for r in results)
    parent_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    emit(
        {
            "bench": "match",
            "subscribers": args.subscribers,
            "papers": args.papers,
            "workers": args.workers,
            "index_s": round(index_s, 3),
            "select_s": round(select_s, 2),
            "subscribers_per_s": round(args.subscribers / select_s),
            "per_process_per_s": round(per_process_per_s),
            "naive_per_s": round(naive_per_s, 1),
            # One process each: the engine at scale vs. testing every paper, digests identical.
            "naive_ratio": round(per_process_per_s / naive_per_s, 1),
            "nonempty_digests": sum(r[0] for r in results),
            "avg_papers_per_digest": round(sum(r[1] for r in results) / args.subscribers, 2),
            "peak_rss_mb": round(max(parent_kb, child_kb) / 1024, 1),  # the largest process
            # Upper bound for all processes together (forked pages are shared, so less in fact).
            "total_rss_mb_bound": round((parent_kb + args.workers * child_kb) / 1024, 1),
            "semantic": semantic,
        }
    )


if __name__ == "__main__":
    main()
