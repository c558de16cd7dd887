"""Embed 1,000 paper texts with our Embedder and with a bare onnxruntime session.

    python bench/embed.py [--papers N] [--batch-size N] [--threads N] [--rounds N] [--model DIR]

The texts are the seed papers' titles and abstracts (tests/data/seed_papers.json, the same 65
papers as digest/sample_data/), each abstract's sentences rotated to make distinct variants.
The bare figure runs the same token batches (same order, batch size and thread count) through
an InferenceSession built by hand, timing session.run alone; ours times embed() whole:
sorting, tokenising, pooling and normalising too. Both must give the same vectors. Rounds
alternate the two and the best of each counts. Target: ours at least 0.9x bare throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, emit, peak_rss_mb
from digest.matching.embeddings import Embedder, mean_pool, paper_text

SEED_PAPERS = ROOT / "tests" / "data" / "seed_papers.json"


def build_texts(count: int) -> list[str]:
    """`count` distinct paper texts: each seed paper, its abstract's sentences rotated."""
    papers = json.loads(SEED_PAPERS.read_text())["papers"]
    texts: list[str] = []
    for i in range(count):
        paper, variant = papers[i % len(papers)], i // len(papers)
        sentences = paper["abstract"].split(". ")
        shift = variant % len(sentences)
        title = paper["title"] if variant < len(sentences) else f"{paper['title']} ({variant})"
        texts.append(paper_text(title, ". ".join(sentences[shift:] + sentences[:shift])))
    assert len(set(texts)) == count, "texts must be distinct"
    return texts


def bare_batches(model: Path, texts: list[str], batch_size: int) -> list[dict[str, np.ndarray]]:
    """The token batches embed() makes, built by hand: sorted by length, padded per batch."""
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding()
    ordered = sorted(texts, key=len)
    batches = []
    for start in range(0, len(ordered), batch_size):
        encodings = tokenizer.encode_batch(ordered[start : start + batch_size])
        batches.append(
            {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
        )
    return batches


def bare_session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(model / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )


def run_bare(session: ort.InferenceSession, batches: list[dict[str, np.ndarray]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        session.run(["last_hidden_state"], batch)
    return time.perf_counter() - started


def run_ours(embedder: Embedder, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    return time.perf_counter() - started, vectors


def check_same_vectors(
    session: ort.InferenceSession,
    batches: list[dict[str, np.ndarray]],
    ours: np.ndarray,
    texts: list[str],
) -> None:
    """The bare session on the hand-made batches gives our vectors: the same work was timed."""
    pooled = [
        mean_pool(session.run(["last_hidden_state"], b)[0], b["attention_mask"]) for b in batches
    ]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    np.testing.assert_allclose(np.vstack(pooled), ours[order], rtol=0, atol=1e-5)


def main() -> None:
    from django.conf import settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", type=Path, default=settings.EMBEDDING_MODEL_DIR)
    args = parser.parse_args()

    texts = build_texts(args.papers)
    embedder = Embedder(args.model, batch_size=args.batch_size, threads=args.threads)
    session = bare_session(args.model, args.threads)
    batches = bare_batches(args.model, texts, args.batch_size)
    embedder.embed(texts[: args.batch_size])  # warm up both: first runs allocate
    session.run(["last_hidden_state"], batches[0])

    ours_s = bare_s = float("inf")
    for _ in range(args.rounds):
        elapsed, vectors = run_ours(embedder, texts)
        ours_s = min(ours_s, elapsed)
        bare_s = min(bare_s, run_bare(session, batches))
    check_same_vectors(session, batches, vectors, texts)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    emit(
        {
            "bench": "embed",
            "model": embedder.name,
            "papers": args.papers,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "rounds": args.rounds,
            "tokens_per_paper": round(tokens / args.papers, 1),
            "ours_s": round(ours_s, 2),
            "bare_s": round(bare_s, 2),
            "ours_papers_per_s": round(args.papers / ours_s, 1),
            "bare_papers_per_s": round(args.papers / bare_s, 1),
            # Our throughput over the bare session's: what tokenising and pooling cost.
            "ratio": round(bare_s / ours_s, 3),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
