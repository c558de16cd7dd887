"""Matching quality on the judgment set (tests/data/judgments.json): mean P@5 and recall@10.

    python bench/quality.py [--sweep]

Three rankings of the same 65 papers for each case: keyword-only (the case's keywords),
plain cosine of the reader's profile vector (zotero-arxiv-daily's method, same model), and
Paper Digest's whole profile (keywords + profile, semantic.MeaningIndex). --sweep also
reports the whole profile over a grid of τ (threshold) and λ (weight).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import emit
from digest.matching.embeddings import Embedder, paper_text
from digest.matching.index import PaperText, build_index
from digest.matching.query import parse_query
from digest.matching.semantic import THRESHOLD, WEIGHT, MeaningIndex, make_profile

ROOT = Path(__file__).resolve().parent.parent
JUDGMENTS = ROOT / "tests" / "data" / "judgments.json"
SEED_PAPERS = ROOT / "tests" / "data" / "seed_papers.json"


def corpus() -> list[tuple[str, PaperText]]:
    papers = json.loads(SEED_PAPERS.read_text("utf-8"))["papers"]
    return [
        (f"arxiv:{p['arxiv_id']}", PaperText(i, p["title"], p["abstract"]))
        for i, p in enumerate(papers)
    ]


class Evaluation:
    def __init__(self, model: Embedder) -> None:
        doc = json.loads(JUDGMENTS.read_text("utf-8"))
        self.aliases: dict[str, str] = doc.get("aliases", {})
        self.cases = doc["cases"]
        papers = corpus()
        self.keys = [key for key, _ in papers]
        self.texts = [text for _, text in papers]
        self.position = {key: i for i, key in enumerate(self.keys)}
        self.vectors = model.embed([paper_text(p.title, p.abstract) for p in self.texts])
        self.index = build_index(self.texts)
        self.interests = {
            c["name"]: model.embed([c["interest"]])[0] for c in self.cases if c["interest"]
        }

    def canonical(self, keys: list[str]) -> set[int]:
        return {self.position[self.aliases.get(k, k)] for k in keys}

    def profile(self, case: dict):
        seeds = [(self.texts[i].title, self.vectors[i], 0.0) for i in self.canonical(case["seeds"])]
        interest = (case["interest"], self.interests[case["name"]]) if case["interest"] else None
        return make_profile(seeds, interest)

    def keyword_only(self, case: dict) -> list[int]:
        return [p for _, p in self.index.select(parse_query(case["keywords"]).topics, 10)]

    def cosine(self, case: dict) -> list[int]:
        seeds = self.canonical(case["seeds"])
        order = np.argsort(-(self.vectors @ self.profile(case).vector), kind="stable")
        return [int(p) for p in order if p not in seeds][:10]

    def whole(self, case: dict, threshold: float = THRESHOLD, weight: float = WEIGHT) -> list[int]:
        meaning = MeaningIndex(self.index, self.vectors, threshold=threshold, weight=weight)
        profile = self.profile(case)
        known = frozenset(self.texts[i].id for i in self.canonical(case["seeds"]))
        query = parse_query(case["keywords"])
        scored = meaning.select_many([query], profile.vector[None, :], 10, known=[known]).row(0)
        return [s.paper for s in scored]

    def score(self, rank) -> dict[str, float]:
        precision, recall = [], []
        for case in self.cases:
            relevant = self.canonical(case["relevant"]) - self.canonical(case["seeds"])
            ranked = rank(case)
            precision.append(len(set(ranked[:5]) & relevant) / 5)
            recall.append(len(set(ranked[:10]) & relevant) / len(relevant))
        return {
            "p_at_5": round(float(np.mean(precision)), 3),
            "recall_at_10": round(float(np.mean(recall)), 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="model directory (EMBEDDING_MODEL_DIR)")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    directory = Path(args.model or ROOT / "var" / "models" / "all-MiniLM-L6-v2")
    evaluation = Evaluation(Embedder(directory))
    result = {
        "bench": "quality",
        "cases": len(evaluation.cases),
        "threshold": THRESHOLD,
        "weight": WEIGHT,
        "keyword_only": evaluation.score(evaluation.keyword_only),
        "plain_cosine": evaluation.score(evaluation.cosine),
        "whole_profile": evaluation.score(evaluation.whole),
    }
    if args.sweep:
        result["sweep"] = [
            {
                "threshold": t,
                "weight": w,
                **evaluation.score(lambda c, t=t, w=w: evaluation.whole(c, t, w)),
            }
            for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
            for w in (4.0, 8.0, 12.0, 20.0, 40.0)
        ]
    emit(result)


if __name__ == "__main__":
    main()
