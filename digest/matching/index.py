"""Which papers each subscriber gets, in which order, and why.

build_index() tokenises and stems an edition's papers once into an inverted index whose
postings are bitmasks (Python ints, bit i = paper i). A term is evaluated once per index, a
topic once per index, and a subscriber's digest is built from their topics' results: a slice of
one topic's ranked list, the few papers in a small union scored directly, or (for broad topics
that match much of the edition) their relevance vectors summed in NumPy. Per-subscriber work
follows what matched. An index holds no global state: each Celery task builds its own.

Scoring, per paper and subscriber:
    score = sum over matched topics of relevance + 1.0 * trending + 0.5 * recency
            (+ a bonus for meaning, for readers with a profile: semantic.py)
    relevance = for each required term, its best alternative's weight:
                title 3, abstract 1, author 3, category 1 (a term found in title and abstract
                scores 4); phrases count 1.5x; a topic of several bare words earns +1.5 when
                they appear together, in order, as in the query
    trending = log(1 + upvotes) / log(1 + the most upvotes in the index)      (0..1)
    recency  = position of the paper's date between the oldest and newest     (0..1)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from digest.matching.query import Query, Term, Topic, parse_query
from digest.matching.text import clip, stem_all, words
from lib.lru import LRU

FIELD_WEIGHT = {"title": 3.0, "abstract": 1.0, "author": 3.0, "category": 1.0}
PHRASE_FACTOR = 1.5
TOGETHER_BONUS = 1.5
TREND_WEIGHT = 1.0
RECENCY_WEIGHT = 0.5
TIE_EPSILON = 1e-9
DIRECT_SCORING_LIMIT = 4  # score the whole union when it is at most 4x the digest size
MEMO_SIZE = 50_000  # queries, terms, topics and selections each index remembers
SEPARATOR = "\x00"  # between authors, so a phrase never spans two names
TEXT_FIELDS = ("title", "abstract", "author")
ANY_FIELDS = ("title", "abstract")


@dataclass(frozen=True)
class PaperText:
    """What matching needs of a paper; built from Paper rows by the caller."""

    id: int
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    upvotes: int | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)  # kept by the thousand while a worker sends
class Match:
    """One paper in a digest and why: rendered by the email, the preview and `match --json`."""

    paper_id: int
    score: float
    topics: tuple[str, ...]  # the subscriber's topics that matched, as they typed them
    terms: tuple[str, ...]  # the query terms found, e.g. ("federated", "learning")
    fields: tuple[str, ...]  # where they were found: title, abstract, author, category
    stems: frozenset[str]  # word stems to highlight in the title and abstract
    prefixes: tuple[str, ...]  # word prefixes to highlight
    # The score's parts (score = keyword + similarity + trending + recency):
    keyword: float = 0.0  # relevance of the matched topics
    similarity: float = 0.0  # the bonus for meaning (semantic.py); 0 for keywords alone
    trending: float = 0.0
    recency: float = 0.0
    cosine: float | None = None  # the paper's similarity to the reader's profile, if any
    # Why by meaning, computed, never generated: what of the reader's it is closest to.
    like_kind: str = ""  # "seed", "interest", "liked", "profile" (their blend), or ""
    like: str = ""  # that seed or liked paper's title, or the interest as typed
    like_cosine: float = 0.0
    like_count: int = 0  # papers they marked "more like this" that are similar to it

    @property
    def matched(self) -> str:
        return ", ".join(self.topics)

    def because(self, length: int = 90) -> str:
        """ "similar to “⟨seed title⟩” (0.71)", "close to your interest “…” (0.48)", "you
        marked 3 similar papers “more like this”", "like “⟨liked title⟩” (0.74), which you
        liked", "you marked it “less like this”", or ""."""
        if self.like_kind == "seed":
            return f"similar to “{clip(self.like, length)}” ({self.like_cosine:.2f})"
        if self.like_kind == "interest":
            return f"close to your interest “{clip(self.like, length)}” ({self.like_cosine:.2f})"
        if self.like_kind == "liked" and self.like_count >= 2:
            return f"you marked {self.like_count} similar papers “more like this”"
        if self.like_kind == "liked":
            return f"like “{clip(self.like, length)}” ({self.like_cosine:.2f}), which you liked"
        if self.like_kind == "profile":
            return f"close to the papers you like ({self.like_cosine:.2f})"
        if self.like_kind == "rated":  # a digest shown again: like holds their rating of it
            return f"you marked it “{self.like} like this”"
        return ""


@dataclass(frozen=True)
class TermHit:
    mask: int
    by_field: tuple[tuple[str, int], ...]
    factor: float

    def weight(self, paper: int) -> float:
        bit = 1 << paper
        return self.factor * sum(FIELD_WEIGHT[f] for f, m in self.by_field if m & bit)


@dataclass
class TopicHits:
    mask: int
    relevance: dict[int, float]  # paper -> this topic's relevance
    ranked: list[tuple[float, int]]  # (relevance + quality, paper), best first
    dense: np.ndarray | None = None  # relevance of every paper (0 = no match), built on demand


NO_HITS = TopicHits(0, {}, [])
NO_TERM = TermHit(0, (), 1.0)


def build_index(papers: Sequence[PaperText], memo_size: int = MEMO_SIZE) -> PaperIndex:
    """Index an edition's papers (pass them newest first: ties keep that order); it remembers
    the `memo_size` most recently used queries, terms, topics and selections. An index
    reachable from public requests gets a small `memo_size`: anyone can send new queries."""
    return PaperIndex(papers, memo_size)


def match_papers(query: Query, index: PaperIndex, limit: int = 10) -> list[Match]:
    """A subscriber's digest: their top `limit` papers, each with its explanation."""
    return [
        index.explain(query.topics, paper, score)
        for score, paper in index.select(query.topics, limit)
    ]


class PaperIndex:
    def __init__(self, papers: Sequence[PaperText], memo_size: int = MEMO_SIZE) -> None:
        self.papers = list(papers)
        self.everything = (1 << len(self.papers)) - 1
        self.sequences: dict[str, list[tuple[str, ...]]] = {}
        self.postings: dict[str, dict[str, int]] = {}
        self.raw: dict[str, dict[str, int]] = {}
        self.vocabulary: dict[str, list[str]] = {}
        self.categories = _postings(
            (i, {c.casefold() for c in p.categories}) for i, p in enumerate(self.papers)
        )
        for field in TEXT_FIELDS:
            self._index_field(field)
        self.trending, self.recency, self.quality = _quality(self.papers)
        self.quality_array = np.array(self.quality)
        # Memos live and die with the index (a sending run's, or the preview's): what they
        # remember is only valid for these papers, and a new edition starts afresh.
        self._queries: LRU[str, Query] = LRU(memo_size)
        self._parsed: LRU[str, Topic] = LRU(memo_size)
        self._terms: LRU[str, TermHit] = LRU(memo_size)
        self._topics: LRU[str, TopicHits] = LRU(memo_size)
        self._selections: LRU[tuple[tuple[str, ...], int], list[tuple[float, int]]] = LRU(memo_size)

    def _index_field(self, field: str) -> None:
        raw_words = [_field_words(paper, field) for paper in self.papers]
        stems = stem_all(w for ws in raw_words for w in ws)
        stems[SEPARATOR] = SEPARATOR
        self.sequences[field] = [tuple(stems[w] for w in ws) for ws in raw_words]
        self.postings[field] = _postings(enumerate(map(set, self.sequences[field])))
        self.raw[field] = _postings(enumerate(map(set, raw_words)))
        self.vocabulary[field] = sorted(self.raw[field])

    # --- queries, terms and topics, each evaluated once per index ---------------------------

    def query(self, keywords: str, *, filters: bool = False) -> Query:
        """`keywords` parsed (QueryError if invalid; with `filters`, as for a reader with a
        profile: see parse_query): a run's subscribers share keywords, and more often still
        topics, so both are parsed once per index."""
        key = ("filters:" if filters else "") + keywords
        query = self._queries.get(key)
        if query is None:
            query = self._queries.put(key, parse_query(keywords, self._parsed, filters=filters))
        return query

    def term(self, term: Term) -> TermHit:
        hit = self._terms.get(term.key)
        return self._terms.put(term.key, self._evaluate(term)) if hit is None else hit

    def _evaluate(self, term: Term) -> TermHit:
        if term.field == "category":
            mask = self._category_mask(term)
            return TermHit(mask, (("category", mask),), 1.0)
        fields = ANY_FIELDS if term.field == "any" else (term.field,)
        by_field = tuple((f, self._field_mask(term, f)) for f in fields)
        mask = 0
        for _, field_mask in by_field:
            mask |= field_mask
        return TermHit(mask, by_field, PHRASE_FACTOR if term.kind == "phrase" else 1.0)

    def _field_mask(self, term: Term, field: str) -> int:
        if term.kind == "prefix":
            return self._prefix_mask(self.raw[field], self.vocabulary[field], term.tokens[0])
        postings = self.postings[field]
        mask = self.everything
        for token in term.tokens:
            mask &= postings.get(token, 0)
            if not mask:
                return 0
        if term.kind == "phrase":
            sequences = self.sequences[field]
            mask = _mask(p for p in _bits(mask) if _contains(sequences[p], term.tokens))
        return mask

    def _prefix_mask(self, raw: dict[str, int], vocabulary: list[str], prefix: str) -> int:
        mask = 0
        for word in vocabulary[bisect_left(vocabulary, prefix) :]:
            if not word.startswith(prefix):
                break
            mask |= raw[word]
        return mask

    def _category_mask(self, term: Term) -> int:
        value = term.tokens[0]
        if term.kind != "prefix":
            return self.categories.get(value, 0)
        return _mask_union(m for c, m in self.categories.items() if c.startswith(value))

    def topic(self, topic: Topic) -> TopicHits:
        # Looked up for every topic of every subscriber: get-then-put, without a closure.
        hits = self._topics.get(topic.key)
        return self._topics.put(topic.key, self._evaluate_topic(topic)) if hits is None else hits

    def _evaluate_topic(self, topic: Topic) -> TopicHits:
        mask = self.everything
        clauses = []
        for clause in topic.required:
            hits = [self.term(term) for term in clause]
            mask &= _mask_union(hit.mask for hit in hits)
            if not mask:
                return NO_HITS
            clauses.append(hits)
        for term in topic.excluded:
            mask &= ~self.term(term).mask
        if not mask:
            return NO_HITS
        together = _together_words(topic)
        relevance = {}
        for paper in _bits(mask):
            score = sum(max(hit.weight(paper) for hit in hits) for hits in clauses)
            if together and self._appear_together(paper, together):
                score += TOGETHER_BONUS
            relevance[paper] = score
        ranked = sorted(((r + self.quality[p], p) for p, r in relevance.items()), key=_best_first)
        return TopicHits(mask, relevance, ranked)

    def _appear_together(self, paper: int, stems: tuple[str, ...]) -> bool:
        return any(_contains(self.sequences[f][paper], stems) for f in ANY_FIELDS)

    # --- a subscriber's digest --------------------------------------------------------------

    def select(self, topics: Sequence[Topic], limit: int) -> list[tuple[float, int]]:
        """The best `limit` (score, paper) pairs for a subscriber with these topics."""
        key = (tuple(topic.key for topic in topics), limit)
        chosen = self._selections.get(key)
        if chosen is None:
            hits = [h for h in map(self.topic, topics) if h.mask]
            chosen = self._selections.put(key, self._top(hits, limit))
        return chosen

    def count(self, topics: Sequence[Topic]) -> int:
        """How many papers match any of these topics."""
        return _mask_union(self.topic(t).mask for t in topics).bit_count()

    def _top(self, hits: list[TopicHits], limit: int) -> list[tuple[float, int]]:
        if not hits:
            return []
        if len(hits) == 1:
            return hits[0].ranked[:limit]
        union = _mask_union(h.mask for h in hits)
        if union.bit_count() <= DIRECT_SCORING_LIMIT * limit:
            scored = [(self._score(p, hits), p) for p in _bits(union)]
            return sorted(scored, key=_best_first)[:limit]
        return self._dense_top(hits, limit)

    def _score(self, paper: int, hits: list[TopicHits]) -> float:
        return self.quality[paper] + sum(h.relevance.get(paper, 0.0) for h in hits)

    def _dense_top(self, hits: list[TopicHits], limit: int) -> list[tuple[float, int]]:
        # Broad topics ("learning", "model") match much of the edition; summing their
        # relevance vectors in NumPy beats scoring hundreds of papers one by one in Python.
        total = self._dense(hits[0]) + self._dense(hits[1])
        for h in hits[2:]:
            total += self._dense(h)
        scores = total + self.quality_array
        # A paper scores at least what any one topic gives it, so each topic's `limit`-th best
        # is a floor the digest's papers reach: only the few papers above it are ranked.
        floor = max(h.ranked[limit - 1][0] if len(h.ranked) >= limit else 0.0 for h in hits)
        found = np.flatnonzero(scores >= floor)
        found = found[total[found] > 0]  # every match has relevance >= 1; 0 matched no topic
        if len(found) > limit:
            found = found[np.argpartition(scores[found], -limit)[-limit:]]
        return sorted(zip(scores[found].tolist(), found.tolist(), strict=True), key=_best_first)

    def dense(self, topic: Topic) -> np.ndarray:
        """A topic's relevance for every paper (0 = no match), kept with the topic's hits."""
        return self._dense(self.topic(topic))

    def _dense(self, hits: TopicHits) -> np.ndarray:
        if not hits.relevance:  # NO_HITS is shared by every index: nothing kept on it
            return np.zeros(len(self.papers))
        if hits.dense is None:
            dense = np.zeros(len(self.papers))
            dense[list(hits.relevance)] = list(hits.relevance.values())
            hits.dense = dense
        return hits.dense

    def explain(self, topics: Sequence[Topic], paper: int, score: float) -> Match:
        """Why `paper` is in the digest: topics, terms and fields that matched."""
        bit = 1 << paper
        matched_topics, terms, fields, stems, prefixes = [], {}, {}, set(), {}
        for topic in topics:
            if not self.topic(topic).mask & bit:
                continue
            matched_topics.append(topic.text)
            for term in (t for clause in topic.required for t in clause):
                hit = self.term(term)
                if not hit.mask & bit:
                    continue
                terms[term.text] = None
                fields.update((f, None) for f, m in hit.by_field if m & bit)
                if term.kind == "prefix" and term.field != "category":
                    prefixes[term.tokens[0]] = None
                elif term.kind in ("word", "phrase"):
                    stems.update(term.tokens)
        trending, recency = (
            TREND_WEIGHT * self.trending[paper],
            RECENCY_WEIGHT * self.recency[paper],
        )
        return Match(
            paper_id=self.papers[paper].id,
            score=round(score, 3),
            topics=tuple(matched_topics),
            terms=tuple(terms),
            fields=tuple(fields),
            stems=frozenset(stems),
            prefixes=tuple(prefixes),
            keyword=round(self.relevance(topics, paper), 3),
            trending=round(trending, 3),
            recency=round(recency, 3),
        )

    def most_upvoted(self, limit: int) -> list[Match]:
        """The papers with the most upvotes, the newer first among equals (the index keeps
        papers newest first): the digest of a reader who named no topics, as HF's own email."""
        chosen = sorted(range(len(self.papers)), key=lambda i: -(self.papers[i].upvotes or 0))[
            :limit
        ]
        return [
            Match(
                paper_id=self.papers[i].id,
                score=float(self.papers[i].upvotes or 0),
                topics=(),
                terms=(),
                fields=(),
                stems=frozenset(),
                prefixes=(),
                trending=round(TREND_WEIGHT * self.trending[i], 3),
                recency=round(RECENCY_WEIGHT * self.recency[i], 3),
            )
            for i in chosen
        ]

    def relevance(self, topics: Sequence[Topic], paper: int) -> float:
        """The keyword part of a paper's score for these topics (0: no topic matched)."""
        return sum(self.topic(topic).relevance.get(paper, 0.0) for topic in topics)


# --- helpers -------------------------------------------------------------------------------------


def _field_words(paper: PaperText, field: str) -> list[str]:
    if field == "title":
        return words(paper.title)
    if field == "abstract":
        return words(paper.abstract)
    found: list[str] = []
    for name in paper.authors:
        found += [*words(name), SEPARATOR]
    return found


def _postings(rows: Iterable[tuple[int, set[str]]]) -> dict[str, int]:
    postings: dict[str, int] = {}
    for i, tokens in rows:
        bit = 1 << i
        for token in tokens:
            postings[token] = postings.get(token, 0) | bit
    return postings


def _quality(papers: list[PaperText]) -> tuple[list[float], list[float], list[float]]:
    """Each paper's trending and recency (0..1), and their weighted sum with a tie-breaker."""
    top = max((p.upvotes or 0 for p in papers), default=0)
    stamps = [p.published.timestamp() for p in papers if p.published]
    oldest, newest = (min(stamps), max(stamps)) if stamps else (0.0, 0.0)
    span = newest - oldest
    trending, recencies, quality = [], [], []
    for i, p in enumerate(papers):
        trend = math.log1p(p.upvotes or 0) / math.log1p(top) if top else 0.0
        if p.published is None:
            recency = 0.0
        else:
            recency = (p.published.timestamp() - oldest) / span if span else 1.0
        # A unique, tiny tie-breaker (earlier in the index wins) makes every ranking exact
        # and deterministic, including which papers argpartition keeps at the cut.
        tie_breaker = (len(papers) - i) * TIE_EPSILON
        trending.append(trend)
        recencies.append(recency)
        quality.append(TREND_WEIGHT * trend + RECENCY_WEIGHT * recency + tie_breaker)
    return trending, recencies, quality


def _together_words(topic: Topic) -> tuple[str, ...]:
    """The stems of a topic made only of bare words (federated learning), in query order."""
    if len(topic.required) < 2:
        return ()
    terms = [clause[0] for clause in topic.required if len(clause) == 1]
    if len(terms) != len(topic.required) or any(
        t.kind != "word" or t.field != "any" for t in terms
    ):
        return ()
    return tuple(t.tokens[0] for t in terms)


def _contains(sequence: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    size, first, start = len(phrase), phrase[0], 0
    while True:
        try:
            start = sequence.index(first, start)
        except ValueError:
            return False
        if sequence[start : start + size] == phrase:
            return True
        start += 1


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _mask(indices: Iterable[int]) -> int:
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


def _mask_union(masks: Iterable[int]) -> int:
    union = 0
    for mask in masks:
        union |= mask
    return union


def _best_first(entry: tuple[float, int]) -> tuple[float, int]:
    return (-entry[0], entry[1])
