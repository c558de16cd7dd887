"""ESP events through django-anymail's tracking webhooks: a hard bounce or a spam complaint
stops all future email to that address, with the event in the subscriber's audit trail."""

from __future__ import annotations

import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent

from subscribers import subscriptions
from subscribers.addresses import normalize_email
from subscribers.models import Subscriber

log = logging.getLogger(__name__)
SUPPRESSING = {"bounced": Subscriber.Status.BOUNCED, "complained": Subscriber.Status.COMPLAINED}


def handle_tracking_event(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    status = SUPPRESSING.get(event.event_type)
    if status is None or not event.recipient or not _permanent(event):
        return
    subscriber = Subscriber.objects.filter(email_key=normalize_email(event.recipient)).first()
    if subscriber is None:
        log.info("%s %s event for an address we do not know", esp_name, event.event_type)
        return
    detail = event.description or event.reject_reason or event.mta_response or ""
    subscriptions.suppress(subscriber, status, f"{esp_name} reported {event.event_type}: {detail}")


def _permanent(event: AnymailTrackingEvent) -> bool:
    # Anymail reports Postmark's SoftBounce (mailbox full, server busy) as "bounced" too; one
    # of those should not cost a subscription unless Postmark itself deactivated the address.
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if raw.get("Type") == "SoftBounce":
        return bool(raw.get("Inactive"))
    return True
