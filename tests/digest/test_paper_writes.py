"""Every write to a Paper bumps updated_at, whichever path makes it: the page cache and the
recent-papers index see changes only through it (recent.papers_version)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from digest.console import curation
from digest.ingest import sources
from digest.models import Paper
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paper() -> Paper:
    return PaperFactory(version=1)


def bumped(*papers: Paper) -> bool:
    stamps = Paper.objects.filter(pk__in=[p.pk for p in papers]).values_list(
        "updated_at", flat=True
    )
    return all(stamp >= timezone.now() for stamp in stamps)


def later(hours: int = 3):
    return time_machine.travel(timezone.now() + timedelta(hours=hours), tick=False)


def test_ingesting_a_changed_paper_bumps_it(paper):
    newer = replace(sources.row_data(paper), title="Pruning, revised", version=2)
    with later():
        assert sources.store_papers([newer]).updated == 1
        assert bumped(paper)


def test_hiding_and_showing_bump_the_paper(paper):
    with later():
        curation.set_hidden([paper], hidden=True)
        assert bumped(paper)
    with later(hours=6):
        curation.set_hidden([paper], hidden=False)
        assert bumped(paper)


def test_merging_bumps_the_survivor_and_the_duplicates(paper):
    duplicate, earlier = PaperFactory(), PaperFactory()
    Paper.objects.filter(pk=earlier.pk).update(merged_into=duplicate)
    with later():
        curation.merge(paper, [duplicate])
        assert bumped(paper, duplicate, earlier)


def test_saving_a_paper_in_the_admin_bumps_it(admin_client, paper):
    url = reverse("admin:digest_paper_change", args=[paper.pk])
    form = {"title": "Edited by an operator", "version": 1, "authors": "[]", "categories": "[]"}
    with later():
        response = admin_client.post(url, form)
        assert response.status_code == 302
        assert bumped(paper)


def test_a_partial_save_and_a_queryset_update_bump_it_too(paper):
    with later():
        paper.title = "Renamed"
        paper.save(update_fields=["title"])
        assert bumped(paper)
    with later(hours=6):
        Paper.objects.filter(pk=paper.pk).update(upvotes=5)
        assert bumped(paper)
