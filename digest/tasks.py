"""Celery glue: each task takes ints or strings, calls one domain function, fans out work and
returns a summary line. The logic lives in digest/ingest/, digest/matching/ and
digest/delivery/."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import group, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from digest.delivery import previews, sending
from digest.ingest import sources
from digest.matching import profiles, vectors
from digest.models import Announcement, Edition, Frequency, Source
from lib.emails import TransientSendError
from subscribers.models import Subscriber

log = logging.getLogger(__name__)


# Fetching has its own deadline; this bounds the whole of it, parsing included, so that no
# document, however pathological, holds a worker for long.
@shared_task(
    name="digest.ingest_source",
    soft_time_limit=settings.INGEST_TIME_LIMIT_SECONDS,
    time_limit=settings.INGEST_TIME_LIMIT_SECONDS + 30,
)
def ingest_source_task(source_id: int) -> str:
    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        log.info("ingest_source: source %s is gone or disabled; nothing to do", source_id)
        return "skipped"
    try:
        result = sources.ingest_source(source)
    except SoftTimeLimitExceeded:
        return sources.stopped(source, settings.INGEST_TIME_LIMIT_SECONDS).summary()
    queue_embedding(result)
    return result.summary()


@shared_task(name="digest.ingest_all")
def ingest_all_task() -> str:
    ids = list(Source.objects.filter(enabled=True).values_list("pk", flat=True))
    group(ingest_source_task.s(source_id) for source_id in ids).apply_async()
    return f"queued {len(ids)} sources"


@shared_task(name="digest.send_due")
def send_due_task() -> str:
    """Beat's planner, every quarter hour: each frequency's readers whose local hour has come."""
    return "; ".join(send_edition_task(frequency) for frequency in Frequency.values)


@shared_task(name="digest.send_edition")
def send_edition_task(frequency: str, *, any_hour: bool = False) -> str:
    chunks: list[list[int]] = []

    def hand_out(edition: Edition, subscribers: Sequence[int] | None = None) -> None:
        planned = sending.dispatch(edition, subscribers=subscribers)
        group(send_chunk_task.s(ids) for ids in planned).apply_async()
        chunks.extend(planned)

    # Each batch goes to the workers as soon as it is planned; the last call hands out what
    # an earlier planner created but never dispatched (it stopped midway).
    edition = sending.plan_edition(frequency, any_hour=any_hour, on_batch=hand_out)
    if edition is None:
        return f"no {frequency} reader is due now"
    hand_out(edition)
    return f"{edition}: dispatched {sum(map(len, chunks))} deliveries in {len(chunks)} chunks"


@shared_task(name="digest.send_announcement")
def send_announcement_task(announcement_id: int) -> str:
    announcement = Announcement.objects.filter(pk=announcement_id).first()
    if announcement is None:
        return "skipped: the announcement is gone"
    chunks: list[list[int]] = []

    def hand_out(subscribers: Sequence[int] | None = None) -> None:
        planned = sending.dispatch(announcement, subscribers=subscribers)
        group(send_chunk_task.s(ids) for ids in planned).apply_async()
        chunks.extend(planned)

    sending.plan_announcement(announcement, on_batch=hand_out)
    hand_out()  # what an earlier planner created but never dispatched (it stopped midway)
    return f"{announcement}: dispatched {sum(map(len, chunks))} deliveries in {len(chunks)} chunks"


# Only a busy or unreachable mail server is retried; a refused recipient is recorded as
# failed inside send_chunk and never retried.
@shared_task(
    name="digest.send_chunk",
    autoretry_for=(TransientSendError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def send_chunk_task(delivery_ids: list[int]) -> str:
    return sending.send_chunk(delivery_ids).summary()


@shared_task(name="digest.sweep")
def sweep_task() -> str:
    reclaimed, chunks = sending.sweep()
    group(send_chunk_task.s(ids) for ids in chunks).apply_async()
    return f"reclaimed {reclaimed}; re-dispatched {sum(map(len, chunks))} deliveries"


@shared_task(name="digest.retry_failed")
def retry_failed_task(edition_id: int) -> str:
    chunks = sending.retry_failed(Edition.objects.get(pk=edition_id))
    group(send_chunk_task.s(ids) for ids in chunks).apply_async()
    return f"retrying {sum(map(len, chunks))} failed deliveries"


@shared_task(name="digest.resume_unfinished")
def resume_unfinished_task(edition_id: int) -> str:
    chunks = sending.resume_unfinished(Edition.objects.get(pk=edition_id))
    group(send_chunk_task.s(ids) for ids in chunks).apply_async()
    return f"resumed {sum(map(len, chunks))} unfinished deliveries"


@shared_task(name="digest.send_test_digest")
def send_test_digest_task(
    to: str,
    subscriber_id: int | None = None,
    query: str = "",
    per_email: int = 10,
    frequency: str = "daily",
) -> str:
    subscriber = Subscriber.objects.get(pk=subscriber_id) if subscriber_id else None
    return previews.send_test_digest(
        to, subscriber=subscriber, query=query, per_email=per_email, frequency=frequency
    )


@shared_task(
    name="digest.embed_papers",
    soft_time_limit=settings.EMBED_TIME_LIMIT_SECONDS,
    time_limit=settings.EMBED_TIME_LIMIT_SECONDS + 60,
)
def embed_papers_task() -> str:
    """Embed the papers that have no vector yet and remake the profiles that wait for them."""
    model = vectors.available()
    if model is None:
        return "no embedding model installed; matching by keywords only"
    try:
        return profiles.catch_up(model).summary()
    except SoftTimeLimitExceeded:  # what was embedded is kept; the next run goes on
        return f"stopped after {settings.EMBED_TIME_LIMIT_SECONDS} s; the next run goes on"


@shared_task(name="digest.refresh_profile")
def refresh_profile_task(subscriber_id: int) -> str:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        log.info("refresh_profile: subscriber %s is gone; nothing to do", subscriber_id)
        return "skipped"
    if not subscriber.has_profile:  # keywords only now: nothing to embed
        profiles.clear(subscriber)
        return "no profile"
    model = vectors.available()
    if model is None:
        return "no embedding model installed; matching by keywords only"
    return "profile made" if profiles.refresh(subscriber, model) else "no profile"


@shared_task(name="digest.refit_models")
def refit_models_task() -> str:
    """Nightly: refit the models of readers whose ratings changed since (learning.py)."""
    installed = vectors.installed()
    if installed is None:
        return "no embedding model installed; nothing to learn from"
    fitted = profiles.refit_due(installed.name)
    return f"{fitted} reader{'s' if fitted != 1 else ''} with a model of their own"


def queue_profile(sender: object, *, subscriber_id: int, **kwargs: object) -> None:
    """Receives subscribers.signals.profile_due (connected in subscribers/apps.py)."""
    refresh_profile_task.delay(subscriber_id)


def queue_embedding(result: sources.IngestResult) -> None:
    if result.ok and (result.new or result.updated):
        embed_papers_task.delay()
