from __future__ import annotations

import gc

import psutil
import pytest
from django.test import Client
from django.urls import reverse

from digest.matching import recent
from digest.models import Paper
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db

PAPERS = 1_500
WARM_UP, DISTINCT = 200, 1_500
RSS_GROWTH_LIMIT = 40 * 1024 * 1024


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def _ask(client: Client, n: int) -> None:
    # A word every paper has, made distinct by an exclusion: the costliest kind of topic.
    text = f"study -nothing{n}"
    if n % 2:
        answer = client.post(reverse("preview"), {"query": text}).content.decode()
        assert f"{PAPERS} of the last {PAPERS} papers match" in answer
    else:
        answer = client.get("/", {"q": text}).content.decode()
        assert f"{PAPERS} of {PAPERS} recent papers match" in answer


def test_it_stays_bounded_under_thousands_of_distinct_queries(settings):
    settings.PREVIEW_LIMIT_PER_MINUTE = 1_000_000
    abstract = "A study of attention and adaptive algorithms across many areas."
    Paper.objects.bulk_create(PaperFactory.build_batch(PAPERS, abstract=abstract))
    client = Client()
    for n in range(WARM_UP):
        _ask(client, n)
    before = _rss()

    for n in range(WARM_UP, WARM_UP + DISTINCT):
        _ask(client, n)

    index = recent.shared().index()
    assert len(index.papers) == PAPERS
    memos = (index._queries, index._parsed, index._terms, index._topics, index._selections)
    assert max(map(len, memos)) <= recent.MEMO_SIZE
    assert _rss() - before < RSS_GROWTH_LIMIT
