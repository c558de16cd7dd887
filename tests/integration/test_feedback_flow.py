"""The whole loop of learning from a reader, through a real Celery worker, PostgreSQL, Redis
and an SMTP sink: an edition goes out, the reader presses "less like this" in it, and their
next edition leaves out the papers like that one, which a reader who did not rate still gets."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from digest.delivery import sending
from digest.matching import vectors
from digest.models import Delivery
from digest.tasks import send_chunk_task, send_edition_task
from subscribers.models import Feedback
from tests.factories import PaperFactory, SubscriberFactory
from tests.integration.test_edition_flow import unfinished, wait_for, worker_env

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
GALAXIES = "Learning to rank galaxies by rotation curves"
STELLAR = "Learning stellar spectra: learning from telescope surveys"
HOSPITALS = "Federated learning for hospitals"


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def link_after(text: str, title: str, label: str) -> str:
    """The `label` link of the paper titled `title` in a digest's text part."""
    block = text[text.index(title) :].split("\n\n\n", 1)[0]
    return re.search(rf"{label}: (\S+)", block).group(1)


def test_less_like_this_in_one_edition_changes_the_next(workers, smtp_sink, client):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for title, abstract in [
        ("Federated learning with secure aggregation", "Clients train one model together."),
        ("Federated learning under client drift", "Skewed client data slows training."),
        (GALAXIES, "Dark matter halos and learning."),
    ]:
        PaperFactory(title=title, abstract=abstract, first_seen_at=an_hour_ago)
    vectors.embed_pending(vectors.embedder())
    rater = SubscriberFactory(email="rater@example.org", status="active", query="learning")
    SubscriberFactory(email="control@example.org", status="active", query="learning")
    workers.start(concurrency=1, env=worker_env(smtp_sink))

    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.count() == 2 and not unfinished(), what="the first edition")
    (first,) = smtp_sink.to("rater@example.org")
    path = urlsplit(link_after(text_of(first), GALAXIES, "Less like this")).path
    assert client.get(path).status_code == 200 and not Feedback.objects.exists()
    assert client.post(path).status_code == 200
    assert list(rater.feedback.values_list("paper__title", "action")) == [(GALAXIES, "less")]

    # The next day: one paper like the one they pressed "less" on, one unlike it.
    tomorrow = timezone.now() + timedelta(days=1)
    PaperFactory(
        title=STELLAR,
        abstract="Learning the spectra of stars and galaxies with learning.",
        first_seen_at=tomorrow - timedelta(hours=1),
    )
    PaperFactory(
        title=HOSPITALS,
        abstract="Medical records never leave the site.",
        first_seen_at=tomorrow - timedelta(hours=1),
    )
    vectors.embed_pending(vectors.embedder())
    with time_machine.travel(tomorrow, tick=False):
        edition = sending.plan_edition("daily", any_hour=True)
        chunks = sending.dispatch(edition)
    for ids in chunks:
        send_chunk_task.delay(ids)
    wait_for(lambda: Delivery.objects.count() == 4 and not unfinished(), what="the next edition")

    _, rated = smtp_sink.to("rater@example.org")
    _, unrated = smtp_sink.to("control@example.org")
    assert HOSPITALS in text_of(rated) and STELLAR not in text_of(rated)
    assert text_of(unrated).index(STELLAR) < text_of(unrated).index(HOSPITALS)
