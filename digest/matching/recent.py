"""The index of recent papers behind the live preview and the landing page search.

Built once per process and rebuilt when an ingest has landed or an operator has hidden or
merged papers since (see papers_version), or after a few minutes, so previews cost a lookup,
not an index build. The lock keeps two threads from building it at once; readers never see a
half-built index because the reference is swapped whole.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from digest.matching.index import Match, PaperIndex, build_index
from digest.matching.query import Query
from digest.models import FetchLog, Paper

MAX_PAPERS = 3_000
MAX_AGE_SECONDS = 300
# Anyone can send a new query with each request: the index remembers only the latest few
# terms, topics and selections (a topic over every paper holds a relevance per paper).
MEMO_SIZE = 200


@dataclass(frozen=True)
class Recent:
    index: PaperIndex
    version: str
    built_at: float


_lock = threading.Lock()
_current: Recent | None = None


def papers_version() -> str:
    """Changes whenever an ingest finishes or an operator hides or merges papers (two indexed
    lookups)."""
    fetched = FetchLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
    changed = Paper.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    return f"{fetched}-{changed.timestamp() if changed else 0}"


def recent_index() -> PaperIndex:
    global _current
    version = papers_version()
    current = _current
    if (
        current
        and current.version == version
        and time.monotonic() - current.built_at < MAX_AGE_SECONDS
    ):
        return current.index
    with _lock:
        if _current is current:  # nobody rebuilt it while we waited
            texts = Paper.objects.recent(settings.PREVIEW_DAYS).texts(limit=MAX_PAPERS)
            _current = Recent(build_index(texts, MEMO_SIZE), version, time.monotonic())
        return _current.index  # type: ignore[union-attr]


def forget() -> None:
    """Drop the cached index (tests, and after operators hide papers)."""
    global _current
    with _lock:
        _current = None


def preview(
    query: Query, limit: int, offset: int = 0
) -> tuple[list[tuple[Paper, Match]], int, int]:
    """The papers these keywords would have matched recently, best first from `offset`:
    (paper, match) pairs, how many matched in all, and how many were searched."""
    index = recent_index()
    chosen = index.select(query.topics, offset + limit)[offset:]
    matches = [index.explain(query.topics, paper, score) for score, paper in chosen]
    papers = Paper.objects.in_bulk([m.paper_id for m in matches])
    found = [(papers[m.paper_id], m) for m in matches if m.paper_id in papers]
    return found, index.count(query.topics), len(index.papers)
