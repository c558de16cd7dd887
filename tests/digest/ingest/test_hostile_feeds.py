"""Ingestion over a corpus of malformed, hostile and unusual documents: each is refused with a
clear message or read safely, in bounded time and memory, and nothing stored before is lost."""

from __future__ import annotations

import re
import time

import psutil
import pytest

from digest.ingest import sources
from digest.models import Paper
from tests.support.hostile_feeds import FIXTURES, corpus

pytestmark = pytest.mark.django_db

CASES = list(corpus())
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]|<script|<img|root:x:0")


def snapshot() -> dict[str, tuple]:
    return {
        p.key: (p.title, p.abstract, tuple(p.authors), p.abs_url)
        for p in Paper.objects.order_by("key")
    }


@pytest.fixture
def stored(data_dir) -> dict[str, tuple]:
    for name in FIXTURES.values():
        assert not sources.ingest_file(data_dir / "feeds" / name).error
    return snapshot()


@pytest.mark.parametrize(("name", "kind", "body"), CASES, ids=[case[0] for case in CASES])
def test_a_hostile_document_is_refused_or_read_safely(name, kind, body, stored):
    process = psutil.Process()
    memory_before = process.memory_info().rss
    started = time.monotonic()

    result = sources.ingest_body(body, label=name, kind=kind)

    assert time.monotonic() - started < 30, "parsing must stay bounded in time"
    assert process.memory_info().rss - memory_before < 600 * 2**20, "and in memory"
    if result.error:
        assert 10 < len(result.error) < 400 and "Traceback" not in result.error
    after = snapshot()
    lost = {key for key in stored if key not in after}
    assert not lost, f"stored papers disappeared: {sorted(lost)[:5]}"
    damaged = {key for key in stored if key in after and after[key] != stored[key]}
    assert not damaged, f"stored papers were changed: {sorted(damaged)[:5]}"
    for paper in Paper.objects.exclude(key__in=stored):
        assert not UNSAFE.search(paper.title + paper.abstract), paper.title[:80]
        assert len(paper.title) <= 1_000 and len(paper.abstract) <= 20_000
        for url in (paper.abs_url, paper.pdf_url):
            assert url == "" or url.startswith(("http://", "https://")), url


def test_the_corpus_covers_what_the_issue_names():
    names = " ".join(name for name, _, _ in CASES)
    for kind in (
        "truncated",
        "UTF-16",
        "declared as",
        "billion laughs",
        "nested",
        "attribute",
        "binary garbage",
        "HTML page",
        "JSON where XML",
    ):
        assert kind in names
    assert len(CASES) >= 50


def test_a_source_that_takes_too_long_is_stopped_and_recorded(monkeypatch, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    from digest.models import FetchLog, Source
    from digest.tasks import ingest_source_task

    source = Source.objects.create(name="slow", kind="feed", url="https://example.org/slow.xml")

    def never_finishes(source):
        raise SoftTimeLimitExceeded()  # what Celery raises inside the task at the limit

    monkeypatch.setattr(sources, "ingest_source", never_finishes)
    assert "stopped after" in ingest_source_task.run(source.pk)
    source.refresh_from_db()
    assert source.last_status == Source.Status.ERROR
    assert source.last_error.startswith("stopped after 300 s")
    assert FetchLog.objects.get(source=source).error == source.last_error
    assert ingest_source_task.soft_time_limit == settings.INGEST_TIME_LIMIT_SECONDS
