"""The index of recent papers behind the live preview and the landing page search.

One RecentIndex per web process, kept by the digest app's config (see shared()), so that
previews cost a lookup, not an index build. It is rebuilt when an ingest has landed or an
operator has hidden or merged papers since (see papers_version), or after a few minutes. Its
lock keeps two threads from building at once; readers never see a half-built index because
the reference is swapped whole.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings

from digest.matching import vectors
from digest.matching.index import Match, PaperIndex, build_index
from digest.matching.query import Query
from digest.matching.semantic import MeaningIndex, Profile
from digest.models import TEXT_FIELDS, FetchLog, Paper

MAX_PAPERS = 3_000
MAX_AGE_SECONDS = 300
# Anyone can send a new query with each request: the index remembers only the latest few
# terms, topics and selections (a topic over every paper holds a relevance per paper).
MEMO_SIZE = 200


def papers_version() -> str:
    """Changes whenever an ingest finishes or an operator hides or merges papers (two indexed
    lookups)."""
    fetched = FetchLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
    changed = Paper.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    return f"{fetched}-{changed.timestamp() if changed else 0}"


@dataclass(frozen=True)
class Built:
    index: PaperIndex
    version: str
    built_at: float
    meaning: MeaningIndex  # the same papers with their vectors

    def is_fresh(self, version: str) -> bool:
        return self.version == version and time.monotonic() - self.built_at < MAX_AGE_SECONDS


class RecentIndex:
    """The recent papers' index, built on first use and again whenever it is stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: Built | None = None

    def index(self) -> PaperIndex:
        return self.built().index

    def built(self) -> Built:
        """The index and its meaning index, as built together."""
        version = papers_version()
        built = self._built
        if built and built.is_fresh(version):
            return built
        with self._lock:
            if self._built is built:  # nobody rebuilt it while we waited
                self._built = _build(version)
            return self._built  # type: ignore[return-value]

    def forget(self) -> None:
        """Drop the built index (tests, and after operators hide papers)."""
        with self._lock:
            self._built = None

    def preview(
        self,
        query: Query,
        limit: int,
        offset: int = 0,
        *,
        profile: Profile | None = None,
    ) -> tuple[list[tuple[Paper, Match]], int, int]:
        """The papers these keywords (and this profile, if any) would have matched recently,
        best first from `offset`: (paper, match) pairs, how many matched by keywords in all,
        and how many were searched."""
        built = self.built()
        index, meaning = built.index, built.meaning
        if profile is None and not query.excluded:
            chosen = index.select(query.topics, offset + limit)[offset:]
            matches = [index.explain(query.topics, paper, score) for score, paper in chosen]
        else:
            scored = meaning.select(query, profile, offset + limit)[offset:]
            matches = [meaning.explain(query, profile, s) for s in scored]
        papers = Paper.objects.in_bulk([m.paper_id for m in matches])
        found = [(papers[m.paper_id], m) for m in matches if m.paper_id in papers]
        return found, index.count(query.topics), len(index.papers)

    def top_for(self, profile: Profile, limit: int) -> tuple[list[tuple[Paper, Match]], int]:
        """What a reader who named nothing but rated papers would get (select_top), and how
        many papers were searched."""
        meaning = self.built().meaning
        nothing = Query((), ())
        matches = [meaning.explain(nothing, profile, s) for s in meaning.select_top(profile, limit)]
        papers = Paper.objects.in_bulk([m.paper_id for m in matches])
        found = [(papers[m.paper_id], m) for m in matches if m.paper_id in papers]
        return found, len(meaning.index.papers)

    def most_upvoted(self, limit: int) -> tuple[list[tuple[Paper, Match]], int]:
        """The most upvoted recent papers (what a reader who names no topics gets), and how
        many were searched."""
        index = self.built().index
        matches = index.most_upvoted(limit)
        papers = Paper.objects.in_bulk([m.paper_id for m in matches])
        return [(papers[m.paper_id], m) for m in matches if m.paper_id in papers], len(index.papers)


def _build(version: str) -> Built:
    rows = list(
        Paper.objects.recent(settings.PREVIEW_DAYS)
        .order_by("-first_seen_at", "-id")
        .only(*TEXT_FIELDS, "embedding", "embedded_with")[:MAX_PAPERS]
    )
    index = build_index([row.as_text() for row in rows], MEMO_SIZE)
    return Built(index, version, time.monotonic(), vectors.meaning_index(index, rows, MEMO_SIZE))


def shared() -> RecentIndex:
    """The process's one RecentIndex, kept by the digest app (digest/apps.py)."""
    return apps.get_app_config("digest").recent_index


def forget() -> None:
    """Drop the shared index (tests, and after operators hide papers)."""
    shared().forget()
