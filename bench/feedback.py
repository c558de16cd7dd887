"""Learning from feedback, replayed: a simulated reader per judgment-set topic.

    python bench/feedback.py

Each simulated reader subscribes with the topic's keywords and interest or seed papers (as in
bench/quality.py) and secretly wants exactly the papers judged relevant. Every edition they get
a digest of PER_EMAIL papers from the 65 judged papers and make CLICKS clicks on papers shown
that they have not rated yet, top first: "more like this" on a relevant one, "less like this"
on any other; the papers shown and not clicked are their ignored ones. Their profile is made
as the service makes it (learning.personal: Rocchio at once, their own model once they have
enough ratings). Reported after 0, 1, 3 and 10 editions of feedback, with and without
learning: recall, the share of the relevant papers the digest could hold that it holds
(relevant shown / min(PER_EMAIL, relevant)), and share, the relevant papers' share of the
papers shown. A topic has 3 to 6 relevant papers, so a digest of 5 can be at most 3/5
relevant: the issue's "share of relevant papers ≥ 0.8" is read as recall. The same 65 papers
come every edition (a paper disliked never comes back, as in the service; a liked one may,
where the service sends no rated paper twice, its editions holding new papers only): this shows
how fast the digest converges on what the reader wants, not how it generalizes to papers never
rated.
With at most 6 relevant papers a topic rarely reaches the 5 likes a model of one's own needs,
so this mostly measures the Rocchio step.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import emit
from bench.quality import ROOT, Evaluation
from digest.matching import learning
from digest.matching.embeddings import Embedder
from digest.matching.query import parse_query
from digest.matching.semantic import MeaningIndex, features

PER_EMAIL = 5
CLICKS = 3
EDITIONS = 10
REPORTED = (0, 1, 3, 10)


class Reader:
    """One simulated reader: what they rated and were shown."""

    def __init__(self, evaluation: Evaluation, case: dict, *, learns: bool) -> None:
        self.evaluation, self.case, self.learns = evaluation, case, learns
        self.meaning = MeaningIndex(evaluation.index, evaluation.vectors)
        self.query = parse_query(case["keywords"])
        seeds = evaluation.canonical(case["seeds"])
        self.base = dataclasses.replace(  # their seeds never come back to them
            evaluation.profile(case), known=frozenset(evaluation.texts[i].id for i in seeds)
        )
        self.relevant = evaluation.canonical(case["relevant"]) - seeds
        self.rated: dict[int, bool] = {}  # paper position -> liked
        self.ignored: list[int] = []  # newest last
        self.models = 0  # editions scored by their own model

    def profile(self):
        ev, liked = self.evaluation, [p for p, up in self.rated.items() if up]
        disliked = [p for p, up in self.rated.items() if not up]
        model = None
        if learning.ready(len(liked), len(disliked)):
            model = self.model(liked, disliked)
            self.models += 1
        return learning.personal(
            self.base,
            [(ev.texts[p].title, ev.vectors[p]) for p in liked],
            [(ev.texts[p].id, ev.vectors[p]) for p in disliked],
            model,
        )

    def model(self, liked: list[int], disliked: list[int]) -> np.ndarray:
        ignored = [p for p in self.ignored if p not in self.rated][-learning.MAX_IGNORED :]
        rows = liked + disliked + ignored
        keyword = self.meaning.keyword_scores(self.query)[rows] > 0
        recency = np.asarray(self.evaluation.index.recency)[rows]
        x = features(self.evaluation.vectors[rows], keyword, np.zeros(len(rows)), recency)
        y = np.array([1] * len(liked) + [0] * (len(disliked) + len(ignored)))
        weights = np.array(
            [1.0] * (len(liked) + len(disliked)) + [learning.IGNORED_WEIGHT] * len(ignored)
        )
        return learning.fit(x, y, weights)

    def digest(self) -> list[int]:
        profile = self.profile() if self.learns else self.base
        return [s.paper for s in self.meaning.select(self.query, profile, PER_EMAIL)]

    def share(self, shown: list[int]) -> float:
        """The share of the digest the reader wanted (an empty digest has none)."""
        return len(set(shown) & self.relevant) / len(shown) if shown else 0.0

    def recall(self, shown: list[int]) -> float:
        """The share of the relevant papers the digest could hold that it holds."""
        return len(set(shown) & self.relevant) / min(PER_EMAIL, len(self.relevant))

    def read(self, shown: list[int]) -> None:
        unrated = [p for p in shown if p not in self.rated]
        for paper in unrated[:CLICKS]:
            self.rated[paper] = paper in self.relevant
        self.ignored += unrated[CLICKS:]


def replay(evaluation: Evaluation, case: dict, *, learns: bool) -> Replay:
    reader = Reader(evaluation, case, learns=learns)
    shares, recalls = {}, {}
    for edition in range(EDITIONS + 1):
        shown = reader.digest()
        if edition in REPORTED:
            shares[edition] = round(reader.share(shown), 3)
            recalls[edition] = round(reader.recall(shown), 3)
        reader.read(shown)
    return Replay(shares, recalls, reader.models)


@dataclass(frozen=True)
class Replay:
    share: dict[int, float]  # after n editions of feedback
    recall: dict[int, float]
    editions_with_own_model: int


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="model directory (EMBEDDING_MODEL_DIR)")
    args = parser.parse_args()
    directory = Path(args.model or ROOT / "var" / "models" / "all-MiniLM-L6-v2")
    evaluation = Evaluation(Embedder(directory))
    topics = []
    for case in evaluation.cases:
        learned = replay(evaluation, case, learns=True)
        static = replay(evaluation, case, learns=False)
        topics.append(
            {
                "topic": case["name"],
                "relevant": len(evaluation.canonical(case["relevant"])),
                "recall": {"learning": learned.recall, "no_learning": static.recall},
                "share": {"learning": learned.share, "no_learning": static.share},
                "editions_with_own_model": learned.editions_with_own_model,
            }
        )

    def mean(measure: str, kind: str) -> dict[int, float]:
        return {
            e: round(float(np.mean([t[measure][kind][e] for t in topics])), 3) for e in REPORTED
        }

    emit(
        {
            "bench": "feedback",
            "topics": len(topics),
            "per_email": PER_EMAIL,
            "clicks_per_digest": CLICKS,
            "recall_learning": mean("recall", "learning"),
            "recall_no_learning": mean("recall", "no_learning"),
            "worst_recall_after_10": min(t["recall"]["learning"][EDITIONS] for t in topics),
            "worse_than_no_learning": [
                t["topic"]
                for t in topics
                if any(t["recall"]["learning"][e] < t["recall"]["no_learning"][e] for e in REPORTED)
            ],
            "share_learning": mean("share", "learning"),
            "share_no_learning": mean("share", "no_learning"),
            "topics_with_own_model": sum(1 for t in topics if t["editions_with_own_model"]),
            "by_topic": topics,
        }
    )


if __name__ == "__main__":
    main()
