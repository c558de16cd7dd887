"""A whole edition through the real path: Celery workers (subprocesses) on the Redis broker,
PostgreSQL, and an aiosmtpd server on loopback that receives and parses every message."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from digest.matching.index import build_index, match_papers
from digest.matching.query import parse_query
from digest.models import Delivery, Paper
from digest.tasks import send_due_task, send_edition_task, sweep_task
from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.mail import subject

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
TITLES = [
    "Global Channel Pruning for Multitask CNNs",
    "Federated Orthogonal Training",
    "Demons in the Detail: Load Balancing Loss for Mixture-of-Expert Models",
    "Addressing Negative Transfer in Diffusion Models",
    "Grokking Tickets: Lottery Tickets Accelerate Grokking",
    "Large-Scale Data Selection for Instruction Tuning",
    "FRL: Federated Rank Learning",
    "Sparse Training via Boosting Pruning Plasticity",
    "Scaling Laws for Data Filtering",
    "Coverage-centric Coreset Selection for High Pruning Rates",
]
QUERIES = [
    "pruning",
    "federated learning",
    '"mixture of experts"',
    "diffusion\ngrok*",
    'coreset OR "data selection"',
    "title:scaling",
    "quantum chemistry",
    "pruning -coreset",
]


def wait_for(condition, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def unfinished() -> int:
    return Delivery.objects.filter(status__in=["planned", "sending"]).count()


def worker_env(sink, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        **extra,
    }


@pytest.fixture
def edition_setup(settings):
    settings.DELIVERY_CHUNK_SIZE = 4
    an_hour_ago = timezone.now() - timedelta(hours=1)  # before the slot the planner closes
    for title in TITLES:
        PaperFactory(title=title, abstract=f"We study {title.lower()}.", first_seen_at=an_hour_ago)
    return [
        SubscriberFactory(email=f"reader{i}@example.org", query=QUERIES[i % len(QUERIES)])
        for i in range(24)
    ]


def expected_titles(subscriber: Subscriber) -> set[str]:
    papers = list(Paper.objects.all())
    index = build_index([p.as_text() for p in papers])
    by_id = {p.pk: p.title for p in papers}
    return {
        by_id[m.paper_id]
        for m in match_papers(parse_query(subscriber.query), index, subscriber.per_email)
    }


def received_titles(message) -> set[str]:
    text = message.get_body(("plain",)).get_content()
    return {t for t in TITLES if t in text}


def test_each_subscriber_gets_exactly_their_papers_once_through_two_workers(
    workers, smtp_sink, edition_setup
):
    for _ in range(2):
        workers.start(concurrency=2, env=worker_env(smtp_sink))
    # Beat's planner, twice at once (two beats by mistake): readers whose hour is now.
    Subscriber.objects.update(send_hour=timezone.now().hour)
    send_due_task.delay()
    send_due_task.delay()
    wait_for(lambda: Delivery.objects.count() == 24 and not unfinished(), what="the edition")
    counts = smtp_sink.counts()
    assert set(counts.values()) == {1}, counts
    for subscriber in edition_setup:
        expected = expected_titles(subscriber)
        mine = smtp_sink.to(subscriber.email)
        if not expected:
            assert mine == [] and Delivery.objects.get(subscriber=subscriber).status == "skipped"
            continue
        (message,) = mine
        assert received_titles(message) == expected, subscriber.query
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.get_body(("html",)) is not None
        assert subject(message).startswith(f"{len(expected)} new paper")
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {
        "sent": len(smtp_sink.messages),
        "skipped": 24 - len(smtp_sink.messages),
    }


def test_a_worker_keeps_its_database_connection_from_chunk_to_chunk(
    workers, smtp_sink, edition_setup
):
    Subscriber.objects.update(query="pruning OR federated OR diffusion")
    before = database_sessions()
    # One sender per chunk: the task's own thread. (Each further sender thread opens a
    # connection for its chunk.)
    env = worker_env(smtp_sink, DELIVERY_CHUNK_SIZE="2", SEND_CONCURRENCY="1")
    worker = workers.start(concurrency=1, env=env)
    # One planning task, then twelve chunks of two.
    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.count() == 24 and not unfinished(), what="the edition")
    worker.stop()  # a session is counted when it ends, at the latest
    time.sleep(1.5)  # statistics reach pg_stat_database within a second
    assert len(smtp_sink.messages) == 24
    # The worker's main process (heartbeat) and its pool child: not one session per task.
    assert database_sessions() - before <= 3


def database_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_worker_killed_mid_chunk_loses_nothing_and_repeats_at_most_its_in_flight_messages(
    workers, smtp_sink, edition_setup, settings
):
    settings.DELIVERY_LEASE_SECONDS = 3
    Subscriber.objects.update(query="pruning OR federated OR diffusion OR data OR grok*")
    smtp_sink.handler.delay = 0.3
    env = worker_env(
        smtp_sink, DELIVERY_LEASE_SECONDS="3", DELIVERY_CHUNK_SIZE="4", SEND_CONCURRENCY="3"
    )
    doomed = workers.start(concurrency=2, env=env)
    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.filter(status="sent").count() >= 4, what="some sends")
    doomed.kill()  # SIGKILL, as an OOM kill or a pulled plug would
    sending_when_killed = Delivery.objects.filter(status="sending").count()
    assert sending_when_killed, "the kill should land mid-chunk"
    workers.start(concurrency=2, env=env)
    time.sleep(3.5)  # let the lease expire; beat would run the sweep every few minutes
    sweep_task.delay()
    wait_for(lambda: not unfinished(), what="recovery")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    counts = smtp_sink.counts()
    assert set(counts) == {s.email for s in edition_setup}  # nobody lost
    duplicates = sum(n - 1 for n in counts.values())
    # At most the messages in flight in the killed worker: 2 processes, 3 senders each.
    assert duplicates <= 2 * 3, counts


def test_a_server_answering_421_for_a_while_delays_but_loses_and_repeats_nothing(
    workers, smtp_sink, edition_setup
):
    Subscriber.objects.update(query="pruning OR federated OR diffusion")
    smtp_sink.handler.temporary_failure = True
    workers.start(concurrency=2, env=worker_env(smtp_sink))
    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.filter(attempts__gte=1).exists(), what="first attempts")
    time.sleep(3)
    assert not smtp_sink.messages
    smtp_sink.handler.temporary_failure = False
    wait_for(lambda: not unfinished(), timeout=120, what="the retries")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert set(smtp_sink.counts().values()) == {1}
    assert len(smtp_sink.counts()) == 24


def test_a_refused_recipient_is_failed_with_the_reason_and_the_rest_are_sent(
    workers, smtp_sink, edition_setup
):
    Subscriber.objects.update(query="pruning OR federated OR diffusion")
    smtp_sink.handler.refuse.add("reader3@example.org")
    workers.start(concurrency=2, env=worker_env(smtp_sink))
    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.count() == 24 and not unfinished(), what="the edition")
    refused = Delivery.objects.get(subscriber__email="reader3@example.org")
    assert refused.status == "failed" and refused.failure_reason.startswith(
        "recipient refused: 550"
    )
    assert Delivery.objects.filter(status="sent").count() == 23


def test_an_announcement_reaches_everyone_once_though_a_worker_is_killed_mid_send(
    workers, smtp_sink, edition_setup, settings
):
    from digest.models import Announcement
    from digest.tasks import send_announcement_task

    settings.DELIVERY_LEASE_SECONDS = 3
    smtp_sink.handler.delay = 0.3
    env = worker_env(
        smtp_sink, DELIVERY_LEASE_SECONDS="3", DELIVERY_CHUNK_SIZE="4", SEND_CONCURRENCY="3"
    )
    note = Announcement.objects.create(subject="Send times", body="Choose your hour.")
    doomed = workers.start(concurrency=2, env=env)
    send_announcement_task.delay(note.pk)
    send_announcement_task.delay(note.pk)  # an operator's double click plans nothing twice
    wait_for(lambda: note.deliveries.filter(status="sent").count() >= 4, what="some sends")
    doomed.kill()  # SIGKILL mid-chunk
    assert note.deliveries.filter(status="sending").exists(), "the kill should land mid-chunk"
    workers.start(concurrency=2, env=env)
    time.sleep(3.5)  # the lease expires; beat's sweep hands the claims out again
    sweep_task.delay()
    wait_for(lambda: not unfinished(), what="recovery")
    assert note.deliveries.count() == 24
    assert set(note.deliveries.values_list("status", flat=True)) == {"sent"}
    counts = smtp_sink.counts()
    assert set(counts) == {s.email for s in edition_setup}  # nobody lost
    # At most the messages in flight in the killed worker: 2 processes, 3 senders each.
    assert sum(n - 1 for n in counts.values()) <= 2 * 3, counts
    assert all(subject(m) == "Send times" for m in smtp_sink.messages)
