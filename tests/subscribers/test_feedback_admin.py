"""What operators see of the readers' ratings: each reader's feedback history and whether a
model of their own ranks them, and on the dashboard, the clicks of each edition's digests."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from digest.models import Delivery, Edition
from subscribers import subscriptions
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.links import assert_no_live_links

pytestmark = pytest.mark.django_db


def sent(edition, subscriber, papers) -> Delivery:
    return Delivery.objects.create(
        subscriber=subscriber,
        edition=edition,
        period=str(edition.period),
        status="sent",
        paper_ids=[p.pk for p in papers],
    )


def edition_on(day: int) -> Edition:
    end = timezone.now() - timedelta(days=day)
    return Edition.objects.create(
        frequency="daily", period=end.date(), window_start=end - timedelta(days=1), window_end=end
    )


def test_a_readers_page_shows_their_feedback_and_whether_their_own_model_ranks_them(
    admin_client,
):
    reader = SubscriberFactory(status="active", query="learning")
    papers = [PaperFactory(title="Federated learning at scale"), PaperFactory(title="Galaxies")]
    edition = edition_on(1)
    delivery = sent(edition, reader, papers)
    url = reverse("admin:subscribers_subscriber_change", args=[reader.pk])
    assert "no ratings: matched by keywords" in unescape(admin_client.get(url).content.decode())
    subscriptions.rate(reader, papers[0].pk, "more", delivery.pk)
    subscriptions.rate(reader, papers[1].pk, "less")
    page = unescape(admin_client.get(url).content.decode())
    history = page[page.index("Feedback (") :]
    assert "Federated learning at scale" in history and "More like this" in history
    assert "Galaxies" in history and "Less like this" in history
    assert edition.label in history and "their preferences page" in history
    assert "ratings move their profile (no model of their own" in page
    assert_no_live_links(page)
    reader.learned = np.zeros(4, dtype=np.float32).tobytes()
    reader.learned_with, reader.learned_at = "all-MiniLM-L6-v2:41ff4740541d", timezone.now()
    reader.save()
    page = unescape(admin_client.get(url).content.decode())
    assert "their own model is in use" in page


def test_the_dashboard_counts_each_editions_clicks(admin_client):
    older, latest = edition_on(2), edition_on(1)
    papers = [PaperFactory() for _ in range(3)]
    ada, bob = (SubscriberFactory(status="active", query="learning") for _ in range(2))
    for reader in (ada, bob):
        sent(older, reader, papers)
    ada_latest = sent(latest, ada, papers)
    subscriptions.rate(ada, papers[0].pk, "more", ada_latest.pk)
    subscriptions.rate(ada, papers[1].pk, "less", ada_latest.pk)
    subscriptions.rate(
        bob, papers[2].pk, "more", Delivery.objects.get(edition=older, subscriber=bob).pk
    )
    page = unescape(admin_client.get(reverse("admin:index")).content.decode())
    panel = page[page.index('id="dash-feedback"') : page.index('id="dash-sources"')]
    assert "2 readers rated papers; 0 of them are ranked by a model of their own" in panel
    rows = [row.split("</th>", 1)[1] for row in panel.split('<tr><th scope="row">')[1:]]
    cells = [[c.split("</td>")[0] for c in row.split("<td>")[1:]] for row in rows]
    assert cells == [["1", "1", "1", "1"], ["2", "1", "0", "1"]]  # latest first
