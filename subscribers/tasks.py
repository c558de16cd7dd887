"""Celery glue for subscriber emails."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from lib.emails import TransientSendError
from subscribers import emails
from subscribers.models import Subscriber
from subscribers.tokens import Preferences

log = logging.getLogger(__name__)


# Only a busy or unreachable mail server is retried (greylisting answers 451 and expects us
# back); a refused address fails at once. As digests do.
@shared_task(
    name="subscribers.send_email",
    bind=True,
    autoretry_for=(TransientSendError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def send_subscriber_email_task(
    self: Task, subscriber_id: int, kind: str, preferences: dict[str, Any] | None = None
) -> str:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        log.info("send_email: subscriber %s is gone", subscriber_id)
        return "skipped"
    carried = Preferences(**preferences) if preferences else None
    return emails.send(subscriber, kind, carried, first_attempt=not self.request.retries)


def queue_email(
    sender: object, *, subscriber_id: int, kind: str, preferences: dict | None, **kwargs: object
) -> None:
    """Receives subscribers.signals.email_due (connected in apps.py)."""
    send_subscriber_email_task.delay(subscriber_id, kind, preferences)
