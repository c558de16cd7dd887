"""Learning from a reader's "more like this" / "less like this": pure arithmetic, no ORM.

Two steps, both kept as one vector per reader:

- At once (Rocchio): the profile moves toward the papers they liked and away from those they
  disliked, from what it was made of (seeds and interest) and all their standing feedback, so
  removing a feedback restores the profile it was before:

      profile = unit(unit(base) + BETA * unit(mean(liked)) - GAMMA * unit(mean(disliked)))

- Nightly, once they have MIN_LIKED likes and MIN_DISLIKED dislikes: a logistic regression on
  each paper's embedding, whether their keywords matched it, its upvotes and its recency, with
  the papers they were shown and left alone as negatives of IGNORED_WEIGHT. Its weights are the
  reader's model: a paper's logit is `model @ features(paper)`.

Fitting is Newton's method on the dual (a reader has tens of examples and 384 dimensions: a
Newton step solves a system of examples by examples, not of 388 by 388).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.matching.semantic import EXTRA, NO_DIRECTION, Liked, Profile
from digest.matching.text import words

BETA = 1.5  # how far the liked papers pull the profile (what it was made of weighs 1)
GAMMA = 0.5  # how far the disliked papers push it away (tuned by bench/feedback.py)
MIN_LIKED, MIN_DISLIKED = 5, 3  # feedback before a reader's model is fitted
IGNORED_WEIGHT = 0.2  # a paper shown and not clicked: a weak "not this"
MAX_IGNORED = 60  # of the latest shown-and-ignored papers, per fit
L2 = 1.0  # regularization: with tens of examples, the weights stay small and smooth
NEWTON_STEPS = 12
# Words too common in abstracts to say anything about a reader (those of 3 letters or fewer
# are left out anyway).
STOPWORDS = frozenset(
    [
        "about",
        "across",
        "also",
        "approach",
        "based",
        "been",
        "between",
        "both",
        "each",
        "existing",
        "from",
        "have",
        "however",
        "into",
        "many",
        "method",
        "methods",
        "model",
        "models",
        "more",
        "most",
        "novel",
        "only",
        "other",
        "over",
        "paper",
        "performance",
        "problem",
        "propose",
        "proposed",
        "results",
        "show",
        "such",
        "than",
        "that",
        "their",
        "them",
        "these",
        "they",
        "this",
        "through",
        "under",
        "using",
        "well",
        "when",
        "where",
        "which",
        "while",
        "with",
        "within",
        "without",
        "work",
    ]
)


def rocchio(
    base: np.ndarray | None, liked: Sequence[np.ndarray], disliked: Sequence[np.ndarray]
) -> np.ndarray | None:
    """The profile after feedback (unit length), or None when there is nothing to go on.
    Dislikes alone give a vector too: papers near it are scored down, none brought in."""
    total = np.zeros(_dimensions(base, liked, disliked), dtype=np.float64)
    if base is not None and np.any(base):
        total += _unit(base)
    if liked:
        total += BETA * _unit(np.mean(np.stack(liked), axis=0))
    if disliked:
        total -= GAMMA * _unit(np.mean(np.stack(disliked), axis=0))
    if not np.any(total):
        return None
    return _unit(total).astype(np.float32)


def personal(
    base: Profile | None,
    liked: Sequence[tuple[str, np.ndarray]],
    disliked: Sequence[tuple[int, np.ndarray]],
    model: np.ndarray | None = None,
) -> Profile | None:
    """A reader's profile with their ratings (liked: title and vector; disliked: paper id and
    vector): the Rocchio vector (or, with their model, its weights), what it was made of and
    the papers they liked (named in the "why"). A paper they disliked never comes back, even
    when nothing they rated has a vector (then the profile has NO_DIRECTION)."""
    if not liked and not disliked and model is None:
        return base
    liked = [(title, v) for title, v in liked if np.any(v)]
    vector = rocchio(
        base.vector if base else None, [v for _, v in liked], [v for _, v in disliked if np.any(v)]
    )
    sources = (base.sources if base else ()) + tuple(Liked("liked", t, _unit(v)) for t, v in liked)
    known = (base.known if base else frozenset()) | {pk for pk, _ in disliked}
    if model is not None:
        weights, extra = split(model)
        return Profile(weights.astype(np.float32), sources, known, rated=True, model=extra)
    if vector is None:  # none of the rated papers has a vector: no direction, but what they
        vector = NO_DIRECTION  # marked "less like this" still never comes back
    return Profile(vector, sources, known, rated=True)


def _dimensions(base: np.ndarray | None, *groups: Sequence[np.ndarray]) -> int:
    if base is not None:
        return len(base)
    return next((len(group[0]) for group in groups if group), 1)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def ready(liked: int, disliked: int) -> bool:
    """Enough feedback for a model of their own."""
    return liked >= MIN_LIKED and disliked >= MIN_DISLIKED


def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """L2-regularized logistic regression: the weight vector (one per feature column) for
    examples x (rows), labels y (1 liked, 0 not) and example weights."""
    x = np.asarray(x, dtype=np.float64)
    sign = np.where(np.asarray(y) > 0, 1.0, -1.0)
    c = np.asarray(weights, dtype=np.float64)
    kernel = x @ x.T
    alpha = np.zeros(len(x))  # the weights are x.T @ alpha (the representer theorem)
    for _ in range(NEWTON_STEPS):
        margin = sign * (kernel @ alpha)
        p = _sigmoid(-margin)  # how wrong each example still is
        gradient = -c * sign * p + L2 * alpha  # in alpha's terms, kernel factored out
        curvature = c * p * (1.0 - p)
        system = curvature[:, None] * kernel + L2 * np.eye(len(x))
        step = np.linalg.solve(system, gradient)
        alpha -= step
        if float(np.abs(step).max(initial=0.0)) < 1e-6:
            break
    return (x.T @ alpha).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def split(model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A model's embedding weights and its weights for the EXTRA features."""
    return model[: -len(EXTRA)], model[-len(EXTRA) :]


@dataclass(frozen=True)
class Words:
    """The words a reader's model scores up and down, for their interest card."""

    up: tuple[str, ...]
    down: tuple[str, ...]


NO_WORDS = Words((), ())


def top_words(texts: Sequence[str], logits: Sequence[float], count: int = 6) -> Words:
    """The words of the rated papers whose papers the model scores highest and lowest on
    average (a word must be in two papers, and not in all): what it leans toward, in the
    papers' own words."""
    by_word: dict[str, list[float]] = defaultdict(list)
    for text, logit in zip(texts, logits, strict=True):
        for word in {w for w in words(text) if len(w) > 3 and w not in STOPWORDS}:
            by_word[word].append(float(logit))
    if not by_word:
        return NO_WORDS
    mean = float(np.mean(logits))
    ranked = sorted(
        ((sum(v) / len(v) - mean, word) for word, v in by_word.items() if 2 <= len(v) < len(texts)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    up = tuple(word for lift, word in ranked[:count] if lift > 0)
    down = tuple(word for lift, word in reversed(ranked[-count:]) if lift < 0)
    return Words(up, down)
