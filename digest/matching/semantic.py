"""Matching by meaning beside the keywords: a reader's profile vector against the papers'.

A profile is one unit vector per reader: their seed papers (the latest weigh most) and their
interest text, embedded by the same model as the papers (embeddings.py). Its cosine with each
paper earns a bonus above a threshold:

    score = keyword score + WEIGHT * max(0, cosine - THRESHOLD)

where the keyword score is index.py's (relevance of the matched topics, + trending and
recency). A reader who has rated papers ("more / less like this", learning.py) has a profile
moved by their ratings, and a paper it points away from (negative cosine) loses RATED_PENALTY
per unit, so papers like those they disliked sink, and leave the digest once their score is
below zero, even when their keywords match; such a reader's digest may also be all by
meaning. A reader with a model of their own (learning.py) is scored by its logit instead.
Either way the guardrails below hold.

A paper no topic matched is a candidate by meaning alone when its cosine passes THRESHOLD
(for a reader's own model: its logit passes 0) and the guardrails allow it:
  - every exclusion the reader typed (in any topic, or on a filter line) keeps it out;
  - when every topic scopes a term (category:cs.LG, author:hinton, title:…), it must match
    one of those scoped terms (a topic with a bare word admits any paper);
and such papers fill at most SEMANTIC_SHARE of a digest that has keywords (all of one that
has none; a digest of one paper with keywords has none by meaning).

THRESHOLD and WEIGHT were tuned on tests/data/judgments.json (README, "Matching by meaning").
Scoring many readers at once is one matrix product per chunk (select_many), so a million
profiles cost about what NumPy's bare product and top-k do (bench/match.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import islice

import numpy as np

from digest.matching.index import Match, PaperIndex
from digest.matching.query import Clause, Query, Term
from lib.lru import LRU

THRESHOLD = 0.20  # τ: a paper less similar than this to the profile earns nothing
WEIGHT = 8.0  # λ: score per unit of cosine above τ (a title word is worth 3)
SEMANTIC_SHARE = 0.5  # of a digest that also has keywords, until the reader rates papers
RATED_PENALTY = 24.0  # score lost per unit of negative cosine, for a reader who rated papers
HALF_LIFE_DAYS = 365.0  # a seed added a year ago weighs half as much as today's
MEMO_SIZE = 10_000  # guardrails and keyword vectors a meaning index remembers
# A reader's own model (learning.py) scores a paper by its embedding and these features:
EXTRA = ("keyword", "upvotes", "recency", "bias")
UPVOTE_SCALE = math.log1p(100.0)  # 100 upvotes count as 1.0
BIAS_SCALE = 3.0  # the bias feature's value: a larger one is regularized less


@dataclass(frozen=True)
class Liked:
    """Something a profile was made from, kept to explain matches: a seed or the interest."""

    kind: str  # "seed", "interest" or "liked" (a paper they marked "more like this")
    text: str  # the seed or liked paper's title, or the interest as typed
    vector: np.ndarray  # unit length


@dataclass(frozen=True)
class Profile:
    # The reader's row in the product with the papers' vectors: the profile (unit length,
    # float32), or, with `model`, their model's weights for the embedding.
    vector: np.ndarray
    sources: tuple[Liked, ...]
    known: frozenset[int] = frozenset()  # the seed papers' ids: never sent back to the reader
    rated: bool = False  # they rated papers: what it points away from is scored down
    model: np.ndarray | None = None  # their model's weights for EXTRA

    def closest(self, paper_vector: np.ndarray) -> Closest | None:
        """The source closest to the paper, how close, and how many liked papers are similar
        to it: the honest "why"."""
        if not self.sources:
            return None
        cosines = [float(source.vector @ paper_vector) for source in self.sources]
        best = max(range(len(cosines)), key=cosines.__getitem__)
        similar = sum(
            1
            for source, cosine in zip(self.sources, cosines, strict=True)
            if source.kind == "liked" and cosine >= SIMILAR
        )
        return Closest(self.sources[best], cosines[best], similar)


SIMILAR = 0.5  # a liked paper this close counts as "a similar paper you marked"
# The vector of a profile that points nowhere (its ratings have no vectors): scored as zeros,
# it keeps only what the profile leaves out (`known`).
NO_DIRECTION = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class Closest:
    source: Liked
    cosine: float
    similar_liked: int  # liked papers at least SIMILAR to it


def make_profile(
    seeds: Sequence[tuple[str, np.ndarray, float]],
    interest: tuple[str, np.ndarray] | None = None,
) -> Profile | None:
    """A profile from seeds (title, vector, age in days) and an interest (text, vector): the
    seeds' recency-weighted mean and the interest, equally; None when there is nothing."""
    seeds = [(title, v, age) for title, v, age in seeds if np.any(v)]
    parts, sources = [], []
    if seeds:
        weights = np.array([0.5 ** (max(age, 0.0) / HALF_LIFE_DAYS) for _, _, age in seeds])
        mean = (weights[:, None] * np.stack([v for _, v, _ in seeds])).sum(axis=0)
        parts.append(_unit(mean))
        sources += [Liked("seed", title, _unit(v)) for title, v, _ in seeds]
    if interest is not None and interest[0].strip() and np.any(interest[1]):
        parts.append(_unit(interest[1]))
        sources.append(Liked("interest", interest[0].strip(), _unit(interest[1])))
    if not parts:
        return None
    return Profile(_unit(np.sum(parts, axis=0)).astype(np.float32), tuple(sources))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


@dataclass(frozen=True)
class Guardrails:
    """What a reader's keywords forbid, which meaning never overrides."""

    excluded: tuple[Term, ...]
    scopes: tuple[Clause, ...]  # a candidate must match one of these; () = any


def guardrails(query: Query) -> Guardrails:
    """Every exclusion; and when every topic scopes a term (category:, author:, title:,
    abstract:), the scoped clauses, one of which a paper must match to come by meaning."""
    excluded = {t.key: t for topic in query.topics for t in topic.excluded}
    excluded.update((t.key, t) for t in query.excluded)
    scopes: list[Clause] = []
    for topic in query.topics:
        scoped = [c for c in topic.required if all(t.field != "any" for t in c)]
        if not scoped:  # this topic admits any paper, so meaning may too
            scopes = []
            break
        scopes += scoped
    return Guardrails(tuple(excluded.values()), tuple(scopes))


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    paper: int
    cosine: float  # 0.0 when the reader has no profile or the paper no vector


@dataclass(frozen=True)
class Selection:
    """Many readers' digests as flat arrays (a million readers are not ten million objects):
    row r's papers, best first, are papers[starts[r]:starts[r + 1]]."""

    starts: np.ndarray
    papers: np.ndarray
    scores: np.ndarray
    cosines: np.ndarray

    def __len__(self) -> int:
        return len(self.starts) - 1

    def row(self, r: int) -> list[Scored]:
        span = slice(self.starts[r], self.starts[r + 1])
        return [
            Scored(float(s), int(p), float(c))
            for s, p, c in zip(
                self.scores[span], self.papers[span], self.cosines[span], strict=True
            )
        ]


class MeaningIndex:
    """An edition's keyword index with the papers' vectors (zero rows for papers not embedded
    yet: those are matched by keywords only). Memos live and die with it, like the index's."""

    def __init__(
        self,
        index: PaperIndex,
        vectors: np.ndarray,
        *,
        model_name: str = "",
        memo_size: int = MEMO_SIZE,
        threshold: float = THRESHOLD,
        weight: float = WEIGHT,
    ) -> None:
        self.index, self.model_name = index, model_name
        self.threshold, self.weight = threshold, weight  # τ and λ; bench/quality.py sweeps them
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._allowed: LRU[str, np.ndarray] = LRU(memo_size)
        self._filtered: LRU[str, np.ndarray] = LRU(memo_size)
        self._keywords: LRU[str, np.ndarray] = LRU(memo_size)
        self._position = {paper.id: i for i, paper in enumerate(index.papers)}
        self._features: np.ndarray | None = None
        self._upvote_order: np.ndarray | None = None

    # --- masks and keyword vectors, each computed once per distinct query ---------------------

    def allowed(self, query: Query) -> np.ndarray:
        """Which papers may come by meaning alone (bool per paper)."""
        return self._allowed.get_or_make(query.key, lambda: self._rails_mask(guardrails(query)))

    def _rails_mask(self, rails: Guardrails) -> np.ndarray:
        index, mask = self.index, self.index.everything
        for term in rails.excluded:
            mask &= ~index.term(term).mask
        if rails.scopes:
            admitted = 0
            for clause in rails.scopes:
                for term in clause:
                    admitted |= index.term(term).mask
            mask &= admitted
        return _bools(mask, len(index.papers))

    def filtered(self, query: Query) -> np.ndarray:
        """Which papers the filter lines let through (bool per paper)."""
        key = ";".join(t.key for t in query.excluded)
        return self._filtered.get_or_make(key, lambda: self._filter_mask(query.excluded))

    def _filter_mask(self, excluded: Sequence[Term]) -> np.ndarray:
        mask = self.index.everything
        for term in excluded:
            mask &= ~self.index.term(term).mask
        return _bools(mask, len(self.index.papers))

    def keyword_scores(self, query: Query) -> np.ndarray:
        """Each paper's keyword relevance for these topics (0: no topic matched)."""
        key = "&".join(t.key for t in query.topics)
        return self._keywords.get_or_make(key, lambda: self._keyword_vector(query))

    def _keyword_vector(self, query: Query) -> np.ndarray:
        total = np.zeros(len(self.index.papers))
        for topic in query.topics:
            total += self.index.dense(topic)
        return total.astype(np.float32)

    # --- digests -------------------------------------------------------------------------------

    def select(self, query: Query, profile: Profile | None, limit: int) -> list[Scored]:
        """One reader's top `limit`; without a profile or filters, exactly the keyword path."""
        if profile is None and not query.excluded:
            return [Scored(s, p, 0.0) for s, p in self.index.select(query.topics, limit)]
        profiles, options = _rows([profile], self.vectors.shape[1])
        return self.select_many([query], profiles, limit, **options).row(0)

    def select_many(
        self,
        queries: Sequence[Query],
        profiles: np.ndarray,
        limit: int,
        *,
        known: Sequence[frozenset[int]] = (),
        rated: Sequence[bool] = (),
        models: Sequence[np.ndarray | None] = (),
    ) -> Selection:
        """Top `limit` for each reader (row i of `profiles` with queries[i]; known[i] the ids
        of their seed papers, left out; rated[i] and models[i] as in Profile): one product
        for all of them, then, in whole-array steps, each row's keyword matches and its share
        of meaning-only candidates."""
        scores, cosines, matched, candidates = self._scores(
            queries, profiles, known=known, rated=rated, models=models
        )
        candidates &= ~matched
        shares = np.array(
            [
                limit if not q.topics or (rated and rated[r]) else int(limit * SEMANTIC_SHARE)
                for r, q in enumerate(queries)
            ]
        )
        # Each row's best keyword matches and its share of the best by meaning (a partition
        # each, as a bare top-k does), then the best of both together.
        rows, papers = _best_by_partition(matched, scores, np.full(len(queries), limit))
        more_rows, more_papers = _best_by_partition(candidates, scores, shares)
        rows, papers = _best_per_row(
            np.concatenate([rows, more_rows]), np.concatenate([papers, more_papers]), scores, limit
        )
        return Selection(
            np.searchsorted(rows, np.arange(len(queries) + 1)),
            papers,
            scores[rows, papers],
            cosines[rows, papers],
        )

    def _scores(
        self,
        queries: Sequence[Query],
        profiles: np.ndarray,
        *,
        known: Sequence[frozenset[int]] = (),
        rated: Sequence[bool] = (),
        models: Sequence[np.ndarray | None] = (),
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every (reader, paper)'s score and cosine, whether their keywords matched it, and
        whether it may come by meaning alone."""
        cosines = np.asarray(profiles, dtype=np.float32) @ self.vectors.T  # (rows, papers)
        keyword = np.stack([self.keyword_scores(q) for q in queries])
        matched = keyword > 0
        held = [[self._position[i] for i in ids if i in self._position] for ids in known]
        for row, positions in enumerate(held):  # the reader has these: neither way brings them
            cosines[row, positions] = -1.0
            matched[row, positions] = False
        if any(q.excluded for q in queries):
            matched &= np.stack([self.filtered(q) for q in queries])
        scores = keyword
        scores += self.index.quality_array.astype(np.float32)
        scores += self.weight * np.maximum(cosines - self.threshold, 0.0)
        candidates = cosines > self.threshold
        if any(rated):  # below THRESHOLD counts too: papers like those they disliked sink
            rows = np.flatnonzero(rated)
            scores[rows] -= RATED_PENALTY * np.maximum(-cosines[rows], 0.0)
            matched[rows] &= scores[rows] > 0.0  # their ratings outweigh their keywords
        if any(m is not None for m in models):
            self._score_by_models(models, cosines, matched, scores, candidates)
            for row, positions in enumerate(held):
                candidates[row, positions] = False
        candidates &= np.stack([self.allowed(q) for q in queries])
        return scores, cosines, matched, candidates

    def _score_by_models(
        self,
        models: Sequence[np.ndarray | None],
        products: np.ndarray,
        matched: np.ndarray,
        scores: np.ndarray,
        candidates: np.ndarray,
    ) -> None:
        """Rows with a model of their own: the score is its logit (its embedding part is
        their row of the product), and a paper it gives even odds or better may come by
        meaning. Their products are no cosines: they are reported as 0."""
        rows = np.array([r for r, m in enumerate(models) if m is not None])
        weights = np.stack([models[r] for r in rows]).astype(np.float32)  # (rows, EXTRA)
        logits = products[rows] + weights[:, :1] * matched[rows]
        logits += weights[:, 1:] @ self._paper_features()
        scores[rows] = logits
        candidates[rows] = logits > 0.0
        products[rows] = 0.0

    def _paper_features(self) -> np.ndarray:
        """Upvotes, recency and bias per paper (the EXTRA a model weighs after the keyword
        match), made once per index: a sender scores one reader at a time."""
        if self._features is None:
            upvotes = np.array([p.upvotes or 0 for p in self.index.papers], dtype=np.float64)
            self._features = np.stack(
                [
                    upvote_feature(upvotes),
                    np.asarray(self.index.recency, dtype=np.float32),
                    np.full(len(upvotes), BIAS_SCALE, dtype=np.float32),
                ]
            )
        return self._features

    def select_top(self, profile: Profile, limit: int) -> list[Scored]:
        """A reader who named nothing but rated papers: papers like the ones they liked first
        (by meaning), then the most upvoted of the rest, leaving out what their ratings point
        away from (a cosine below -τ) and the papers they rated; with a model of their own,
        the rest in its order (it weighs upvotes too)."""
        nothing = Query((), ())
        chosen = self.select(nothing, profile, limit)
        rows, options = _rows([profile], self.vectors.shape[1])
        scores, cosines, _, _ = self._scores([nothing], rows, **options)
        if profile.model is not None:  # their model weighs upvotes itself: its order, then
            away = np.zeros(len(scores[0]), dtype=bool)
            order = np.argsort(-scores[0], kind="stable")
        else:
            away = cosines[0] < -self.threshold
            order = self._by_upvotes()
        away[[self._position[i] for i in profile.known if i in self._position]] = True
        away[[s.paper for s in chosen]] = True  # taken already
        rest = islice((p for p in order if not away[p]), limit - len(chosen))
        return [*chosen, *(Scored(float(scores[0, p]), int(p), float(cosines[0, p])) for p in rest)]

    def _by_upvotes(self) -> np.ndarray:
        """Paper positions, the most upvoted first (the newer first among equals)."""
        if self._upvote_order is None:
            upvotes = np.array([p.upvotes or 0 for p in self.index.papers])
            self._upvote_order = np.argsort(-upvotes, kind="stable")
        return self._upvote_order

    def score_each(self, query: Query, profile: Profile | None) -> list[Scored]:
        """Every paper's score for this reader, whether or not it would be chosen."""
        profiles, options = _rows([profile], self.vectors.shape[1])
        scores, cosines, _, _ = self._scores([query], profiles, **options)
        return [Scored(float(scores[0, p]), p, float(cosines[0, p])) for p in range(len(scores[0]))]

    def explain(self, query: Query, profile: Profile | None, scored: Scored) -> Match:
        """Why: the topics and words that matched, and the profile source it is closest to.
        A paper that came by meaning alone has no words to highlight."""
        match = self.index.explain(query.topics, scored.paper, scored.score)
        if profile is None:
            return match
        if profile.model is None:
            if scored.cosine <= self.threshold:
                return match
            bonus = self.weight * (scored.cosine - self.threshold)
            match = replace(match, similarity=round(bonus, 3), cosine=round(scored.cosine, 3))
        closest = profile.closest(self.vectors[scored.paper])
        if closest is None:  # what it was made of has no vector now (a seed's text changed)
            if profile.model is not None:
                return match
            return replace(match, like_kind="profile", like_cosine=scored.cosine)
        if profile.model is not None and closest.cosine <= self.threshold:
            return match  # their model chose it, but it is like nothing they named
        return replace(
            match,
            like_kind=closest.source.kind,
            like=closest.source.text,
            like_cosine=closest.cosine,
            like_count=closest.similar_liked,
        )


def _rows(profiles: Sequence[Profile | None], dimensions: int) -> tuple[np.ndarray, dict]:
    """Readers' profiles as select_many's rows and options (zeros for a reader with none)."""
    vectors = [
        p.vector if p is not None and len(p.vector) == dimensions else np.zeros(dimensions)
        for p in profiles
    ]
    options = {
        "known": [p.known if p is not None else frozenset() for p in profiles],
        "rated": [p is not None and p.rated for p in profiles],
        "models": [p.model if p is not None else None for p in profiles],
    }
    return np.stack(vectors), options


def features(
    vectors: np.ndarray, keyword: np.ndarray, upvotes: np.ndarray, recency: np.ndarray
) -> np.ndarray:
    """Each paper's features (rows): its embedding, then 1.0 where the reader's keywords
    matched it, its upvotes (log-scaled, 100 = 1.0), its recency in its window (0..1) and a
    constant for the bias."""
    count = len(vectors)
    extra = np.stack(
        [
            np.asarray(keyword, dtype=np.float32),
            upvote_feature(upvotes),
            np.clip(np.asarray(recency, dtype=np.float32), 0.0, 1.0),
            np.full(count, BIAS_SCALE, dtype=np.float32),
        ],
        axis=1,
    )
    return np.hstack([np.asarray(vectors, dtype=np.float32).reshape(count, -1), extra])


def upvote_feature(upvotes: np.ndarray) -> np.ndarray:
    counts = np.maximum(np.nan_to_num(np.asarray(upvotes, dtype=np.float64)), 0.0)
    return np.minimum(np.log1p(counts) / UPVOTE_SCALE, 2.0).astype(np.float32)


def _best_per_row(
    rows: np.ndarray, papers: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Of these (row, paper) pairs, each row's k best by score (ties: the earlier paper),
    sorted by row and then best first."""
    order = np.lexsort((papers, -scores[rows, papers], rows))
    rows, papers = rows[order], papers[order]
    first = np.searchsorted(rows, rows)  # where each pair's row starts
    keep = np.arange(len(rows)) - first < k
    return rows[keep], papers[keep]


_UNWANTED = -1e4  # below any score (they are tens at most), exact in float32 with a few added


def _best_by_partition(
    allowed: np.ndarray, scores: np.ndarray, shares: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best shares[row] allowed papers, as (row, paper) pairs."""
    k = min(int(shares.max(initial=0)), scores.shape[1])
    if k <= 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    # Not -inf for the others: a partition slows down tenfold over many equal values.
    masked = np.where(allowed, scores, _UNWANTED - np.arange(scores.shape[1], dtype=np.float32))
    top = np.argpartition(masked, -k, axis=1)[:, -k:] if k < scores.shape[1] else None
    if top is None:
        top = np.broadcast_to(np.arange(k), scores.shape).copy()
    values = np.take_along_axis(masked, top, axis=1)
    ranked = np.argsort(-values, axis=1, kind="stable")
    top, values = (
        np.take_along_axis(top, ranked, axis=1),
        np.take_along_axis(values, ranked, axis=1),
    )
    keep = (values > _UNWANTED / 2) & (np.arange(k) < shares[:, None])
    rows = np.broadcast_to(np.arange(len(scores))[:, None], top.shape)
    return rows[keep], top[keep]


def _bools(mask: int, size: int) -> np.ndarray:
    """A bitmask (bit i = paper i) as a bool per paper."""
    raw = np.frombuffer(mask.to_bytes((size + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:size].astype(bool)
