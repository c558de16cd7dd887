"""Celery glue for subscriber emails."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from digest.sending import sent_message_id
from subscribers import emails
from subscribers.models import Subscriber

log = logging.getLogger(__name__)
BUILDERS = {"confirm": emails.confirmation, "already_subscribed": emails.already_subscribed}


@shared_task(
    name="subscribers.send_email",
    autoretry_for=(ConnectionError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_subscriber_email_task(subscriber_id: int, kind: str) -> str:
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        log.info("send_email: subscriber %s is gone", subscriber_id)
        return "skipped"
    message = BUILDERS[kind](subscriber)
    message.send()
    subscriber.record_email(kind, sent_message_id(message))  # ESP events are matched to it
    if kind == "confirm":
        subscriber.mark_confirmation_sent()
    return f"sent {kind} to subscriber {subscriber_id}"
