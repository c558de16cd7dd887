from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from digest.console import dashboard
from digest.delivery import sending
from digest.models import Source
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def daily(now: datetime) -> dashboard.EditionSummary:
    return next(e for e in dashboard.editions(now) if e.frequency == "daily")


@pytest.mark.parametrize("clock", ["00:00:40", "03:29:59", "01:30:00"])
def test_it_shows_when_the_next_readers_are_due(clock):
    SubscriberFactory(time_zone="Asia/Kolkata", send_hour=9)  # 03:30 UTC
    SubscriberFactory(time_zone="Europe/Berlin", send_hour=7)  # 06:00 UTC in March
    now = datetime.fromisoformat(f"2026-03-02T{clock}+00:00")
    assert daily(now).next_at == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)


def test_after_a_readers_digest_their_next_is_tomorrow():
    SubscriberFactory(send_hour=7)
    sending.plan_edition("daily", datetime(2026, 3, 2, 7, tzinfo=UTC))
    assert daily(datetime(2026, 3, 2, 7, 20, tzinfo=UTC)).next_at == datetime(
        2026, 3, 3, 7, tzinfo=UTC
    )


def test_no_next_send_without_the_planner():
    SubscriberFactory()
    PeriodicTask.objects.filter(task="digest.send_due").update(enabled=False)
    summary = daily(datetime(2026, 3, 2, 5, tzinfo=UTC))
    assert summary.next_at is None and not summary.schedule_enabled


# --- getting started ------------------------------------------------------------------------

ADD_SOURCE_LINK = f'<a href="{reverse("admin:digest_source_add")}">add an arXiv category'


def dashboard_of(client) -> str:
    return client.get(reverse("admin:index")).content.decode()


def test_a_fresh_install_says_how_to_add_a_source_and_fetch_it(admin_client):
    page = dashboard_of(admin_client)
    assert "Getting started" in page and "No sources yet" in page
    assert ADD_SOURCE_LINK + " or the Hugging Face daily papers</a>" in page
    assert ".venv/bin/python manage.py add_source arxiv cs.LG cs.CV" in page
    assert ".venv/bin/python manage.py add_source hf-daily" in page
    assert "<code>.venv/bin/python manage.py ingest</code>" in page


def test_sources_that_brought_no_paper_yet_are_to_be_fetched(admin_client):
    Source.objects.create(name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss")
    PaperFactory(listed=False)  # a reader's seed, fetched on its own: nothing to send

    page = dashboard_of(admin_client)

    assert "No sources yet" not in page and ADD_SOURCE_LINK not in page
    assert "No papers yet: your sources have not brought any." in page
    assert f'<a href="{reverse("admin:digest_source_changelist")}">Sources</a>' in page


def test_the_hints_are_gone_once_a_source_has_brought_papers(admin_client):
    source = Source.objects.create(
        name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss"
    )
    PaperFactory(source=source)

    page = dashboard_of(admin_client)

    assert "Getting started" not in page
    assert "No sources yet" not in page and "No papers yet" not in page
    assert "python manage.py add_source" not in page


def test_a_viewer_gets_the_commands_but_no_link_to_a_page_they_cannot_use(client, staff):
    client.force_login(staff("viewer"))

    page = dashboard_of(client)

    assert "No sources yet" in page and ".venv/bin/python manage.py add_source hf-daily" in page
    assert reverse("admin:digest_source_add") not in page
