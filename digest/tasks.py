"""Celery glue: each task takes ids, calls one domain function and returns a summary line."""

from __future__ import annotations

import logging

from celery import group, shared_task

from digest import ingest
from digest.models import Source

log = logging.getLogger(__name__)


@shared_task(name="digest.ingest_source")
def ingest_source_task(source_id: int) -> str:
    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        log.info("ingest_source: source %s is gone or disabled; nothing to do", source_id)
        return "skipped"
    return ingest.ingest_source(source).summary()


@shared_task(name="digest.ingest_all")
def ingest_all_task() -> str:
    ids = list(Source.objects.filter(enabled=True).values_list("pk", flat=True))
    group(ingest_source_task.s(source_id) for source_id in ids).apply_async()
    return f"queued {len(ids)} sources"
