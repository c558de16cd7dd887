"""Admin actions that enqueue work, carried out by a real Celery worker on the Redis broker."""

from __future__ import annotations

import pytest
from django.urls import reverse

from digest.models import Heartbeat, Paper, Source
from tests.factories import PaperFactory
from tests.integration.test_edition_flow import wait_for, worker_env

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def test_fetch_now_and_a_test_digest_run_on_the_worker_and_show_on_the_dashboard(
    workers, admin_client, feed_server, data_dir, smtp_sink
):
    workers.start(env=worker_env(smtp_sink))
    url = feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    source = Source.objects.create(name="cs.LG", url=url, kind="arxiv-rss")
    admin_client.post(
        reverse("admin:digest_source_changelist"),
        {"action": "fetch_now", "_selected_action": [source.pk]},
    )
    wait_for(lambda: Paper.objects.count() == 12, what="the worker to ingest the feed")

    PaperFactory(title="Federated learning on phones")
    admin_client.post(
        reverse("admin:send_test_digest"),
        {"query": "federated", "frequency": "daily", "per_email": 5, "to": "operator@example.org"},
    )
    wait_for(lambda: smtp_sink.to("operator@example.org"), what="the test digest")
    (message,) = smtp_sink.to("operator@example.org")
    assert message["Subject"].startswith("[Test] ")

    wait_for(
        lambda: Heartbeat.objects.filter(role__startswith="worker:").exists(),
        what="the worker's heartbeat",
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Worker: last seen" in page and "waiting" in page
