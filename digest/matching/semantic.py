"""Matching by meaning beside the keywords: a reader's profile vector against the papers'.

A profile is one unit vector per reader: their seed papers (the latest weigh most) and their
interest text, embedded by the same model as the papers (embeddings.py). Its cosine with each
paper earns a bonus above a threshold:

    score = keyword score + WEIGHT * max(0, cosine - THRESHOLD)

where the keyword score is index.py's (relevance of the matched topics, + trending and
recency). A paper no topic matched is a candidate by meaning alone when its cosine passes
THRESHOLD and the guardrails allow it:
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

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from digest.matching.index import Match, PaperIndex
from digest.matching.query import Clause, Query, Term
from lib.lru import LRU

THRESHOLD = 0.20  # τ: a paper less similar than this to the profile earns nothing
WEIGHT = 8.0  # λ: score per unit of cosine above τ (a title word is worth 3)
SEMANTIC_SHARE = 0.5  # of a digest that also has keywords
HALF_LIFE_DAYS = 365.0  # a seed added a year ago weighs half as much as today's
MEMO_SIZE = 10_000  # guardrails and keyword vectors a meaning index remembers


@dataclass(frozen=True)
class Liked:
    """Something a profile was made from, kept to explain matches: a seed or the interest."""

    kind: str  # "seed" or "interest"
    text: str  # the seed paper's title, or the interest as typed
    vector: np.ndarray  # unit length


@dataclass(frozen=True)
class Profile:
    vector: np.ndarray  # unit length, float32
    sources: tuple[Liked, ...]
    known: frozenset[int] = frozenset()  # the seed papers' ids: never sent back to the reader

    def closest(self, paper_vector: np.ndarray) -> tuple[Liked, float] | None:
        """The source closest to the paper, and how close: the honest "why"."""
        if not self.sources:
            return None
        cosines = [float(source.vector @ paper_vector) for source in self.sources]
        best = max(range(len(cosines)), key=cosines.__getitem__)
        return self.sources[best], cosines[best]


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
        vector = profile.vector if profile is not None else np.zeros(self.vectors.shape[1])
        known = profile.known if profile is not None else frozenset()
        return self.select_many([query], vector[None, :], limit, known=[known]).row(0)

    def select_many(
        self,
        queries: Sequence[Query],
        profiles: np.ndarray,
        limit: int,
        *,
        known: Sequence[frozenset[int]] = (),
    ) -> Selection:
        """Top `limit` for each reader (row i of `profiles` with queries[i]; known[i] the ids
        of their seed papers, left out): one product for all of them, then, in whole-array
        steps, each row's keyword matches and its share of meaning-only candidates."""
        cosines = np.asarray(profiles, dtype=np.float32) @ self.vectors.T  # (rows, papers)
        keyword = np.stack([self.keyword_scores(q) for q in queries])
        matched = keyword > 0
        for row, ids in enumerate(known):  # the reader has these: neither way brings them
            positions = [self._position[i] for i in ids if i in self._position]
            cosines[row, positions] = -1.0
            matched[row, positions] = False
        if any(q.excluded for q in queries):
            matched &= np.stack([self.filtered(q) for q in queries])
        scores = keyword
        scores += self.index.quality_array.astype(np.float32)
        scores += self.weight * np.maximum(cosines - self.threshold, 0.0)
        candidates = cosines > self.threshold
        candidates &= ~matched
        candidates &= np.stack([self.allowed(q) for q in queries])
        shares = np.array([limit if not q.topics else int(limit * SEMANTIC_SHARE) for q in queries])
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

    def score_each(self, query: Query, profile: Profile | None) -> list[Scored]:
        """Every paper's score for this reader, whether or not it would be chosen."""
        if profile is None:
            cosines = np.zeros(len(self.vectors), dtype=np.float32)
        else:
            cosines = self.vectors @ profile.vector
        scores = self.keyword_scores(query) + self.index.quality_array
        scores += self.weight * np.maximum(cosines - self.threshold, 0.0)
        return [Scored(float(scores[p]), p, float(cosines[p])) for p in range(len(scores))]

    def explain(self, query: Query, profile: Profile | None, scored: Scored) -> Match:
        """Why: the topics and words that matched, and the profile source it is closest to.
        A paper that came by meaning alone has no words to highlight."""
        match = self.index.explain(query.topics, scored.paper, scored.score)
        if profile is None or scored.cosine <= self.threshold:
            return match
        bonus = self.weight * (scored.cosine - self.threshold)
        match = replace(match, similarity=round(bonus, 3), cosine=round(scored.cosine, 3))
        closest = profile.closest(self.vectors[scored.paper])
        if closest is None:  # what it was made of has no vector now (a seed's text changed)
            return replace(match, like_kind="profile", like_cosine=scored.cosine)
        source, cosine = closest
        return replace(match, like_kind=source.kind, like=source.text, like_cosine=cosine)


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
