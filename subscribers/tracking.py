"""ESP events through django-anymail's tracking webhook, for the configured ESP only.

The webhook refuses every call until ANYMAIL_WEBHOOK_SECRET is set. An event acts only when
it is about a message we sent that address (the ESP's id we stored, or the delivery named in
anymail's metadata): a hard bounce or a spam complaint stops all email, an unsubscribe at
the ESP unsubscribes, and soft bounces suppress only when SOFT_BOUNCE_LIMIT messages
soft-bounced within SOFT_BOUNCE_WINDOW_DAYS. Every event, acted on or not, is recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from anymail.signals import AnymailTrackingEvent
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from lib.numbers import ascii_int
from subscribers import subscriptions
from subscribers.addresses import normalize_email
from subscribers.models import EspEvent, Subscriber

log = logging.getLogger(__name__)
Kind = EspEvent.Kind
ANYMAIL_BACKEND = re.compile(r"^anymail\.backends\.(\w+)\.EmailBackend$")

# Anymail reports every bounce as "bounced"; whether it was temporary is in the ESP's own
# fields: (path into the raw event, values that mean soft). Other ESPs' bounces are hard.
SOFT_BOUNCE_FIELDS: dict[str, tuple[tuple[str, ...], set[object]]] = {
    "Postmark": (("Type",), {"SoftBounce", "VirusNotification"}),
    "Brevo": (("event",), {"soft_bounce"}),
    "SendinBlue": (("event",), {"soft_bounce"}),
    "Mandrill": (("event",), {"soft_bounce"}),
    "MailerSend": (("data", "type"), {"soft_bounced"}),
    "SendGrid": (("type",), {"blocked"}),
    "Mailjet": (("hard_bounce",), {False}),
    "Amazon SES": (("bounce", "bounceType"), {"Transient", "Undetermined"}),
}
KINDS = {
    "complained": Kind.COMPLAINT,
    "unsubscribed": Kind.UNSUBSCRIBE,
    "deferred": Kind.SOFT_BOUNCE,
}
WORDS = {
    Kind.HARD_BOUNCE: "a hard bounce",
    Kind.SOFT_BOUNCE: "a soft bounce",
    Kind.COMPLAINT: "a spam complaint",
    Kind.UNSUBSCRIBE: "an unsubscribe",
}


# --- the URL and who may call it ----------------------------------------------------------------


def configured_esp(backend: str) -> str:
    """ "postmark" for anymail.backends.postmark.EmailBackend; "" for SMTP, file and others."""
    found = ANYMAIL_BACKEND.match(backend)
    return found.group(1) if found else ""


def tracking_urls(backend: str) -> list[URLPattern]:
    """The configured ESP's tracking webhook, guarded; none for backends without one."""
    name = f"{configured_esp(backend)}_tracking_webhook"
    return [
        path(str(pattern.pattern), require_webhook_secret(pattern.callback), name=name)
        for pattern in anymail_urls.urlpatterns
        if isinstance(pattern, URLPattern) and pattern.name == name
    ]


def webhook_secret_configured() -> bool:
    return bool(get_anymail_setting("webhook_secret", default=None))


def require_webhook_secret(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse every call while no secret is set: anymail would accept them all (with only a
    warning), and then anyone could bounce any address."""

    logged = False  # one warning per process, not one per forged request

    @wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        nonlocal logged
        if not webhook_secret_configured():
            if not logged:
                logged = True
                log.warning("refusing ESP webhooks: ANYMAIL_WEBHOOK_SECRET is not set")
            return HttpResponseForbidden("This webhook is not configured.")
        return view(request, *args, **kwargs)

    return csrf_exempt(guarded)


# --- what an event is and whether it is ours ----------------------------------------------------


def classify(event: AnymailTrackingEvent, esp_name: str) -> str | None:
    """The kind of event we act on, or None for the rest (deliveries, opens, clicks…)."""
    if event.event_type == "bounced":
        return Kind.SOFT_BOUNCE if _soft(event.esp_event, esp_name) else Kind.HARD_BOUNCE
    return KINDS.get(event.event_type)


def _soft(raw: object, esp_name: str) -> bool:
    keys, soft_values = SOFT_BOUNCE_FIELDS.get(esp_name, ((), set()))
    value = raw
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return bool(keys) and value in soft_values


def refers_to_our_message(subscriber: Subscriber, event: AnymailTrackingEvent) -> bool:
    """Whether the event is about a digest or an email we sent this subscriber."""
    message_id = event.message_id or ""
    delivery = str((event.metadata or {}).get("delivery", ""))
    ours = Q(pk__in=[])
    if message_id:
        ours |= Q(message_id=message_id)
    if (delivery_pk := ascii_int(delivery)) is not None:
        ours |= Q(pk=delivery_pk, sent_at__isnull=False)
    return subscriber.deliveries.filter(ours).exists() or (
        bool(message_id) and subscriber.emails.filter(message_id=message_id).exists()
    )


# --- acting on it -------------------------------------------------------------------------------


def handle_tracking_event(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    kind = classify(event, esp_name)
    if kind is None or not event.recipient:
        return
    subscriber = Subscriber.objects.filter(email_key=normalize_email(event.recipient)).first()
    record = EspEvent.objects.create(
        subscriber=subscriber,
        esp=esp_name[:40],
        kind=kind,
        recipient=event.recipient[:254],
        message_id=(event.message_id or "")[:300],
        matched=subscriber is not None and refers_to_our_message(subscriber, event),
        detail=(event.description or event.reject_reason or event.mta_response or "")[:500],
    )
    record.outcome = act(record) if record.matched else "ignored: not a message we sent"
    record.save(update_fields=["outcome"])


def act(record: EspEvent) -> str:
    """Apply a matched event to its subscriber; what happened, for the record."""
    subscriber = record.subscriber
    assert subscriber is not None
    reason = f"{record.esp} reported {WORDS[record.kind]}: {record.detail}".rstrip(": ")
    if record.kind == Kind.UNSUBSCRIBE:
        done = subscriptions.unsubscribe(subscriber, reason)
        return "unsubscribed" if done else "already not receiving"
    if record.kind == Kind.SOFT_BOUNCE:
        return _count_soft_bounce(subscriber, reason)
    complained = record.kind == Kind.COMPLAINT
    status = Subscriber.Status.COMPLAINED if complained else Subscriber.Status.BOUNCED
    done = subscriptions.suppress(subscriber, status, reason)
    return "suppressed" if done else "already suppressed"


def _count_soft_bounce(subscriber: Subscriber, reason: str) -> str:
    limit, days = settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_WINDOW_DAYS
    count = recent_soft_bounces(subscriber, timedelta(days=days))
    if count < limit:
        return f"soft bounce {count} of {limit} in {days} days"
    reason = f"{count} soft bounces in {days} days, the last: {reason}"
    done = subscriptions.suppress(subscriber, Subscriber.Status.BOUNCED, reason)
    return f"suppressed after {count} soft bounces" if done else "already suppressed"


def recent_soft_bounces(subscriber: Subscriber, window: timedelta) -> int:
    """Messages that soft-bounced within the window and since the subscriber was last made
    active. Counted per message: an ESP retrying one message (greylisting) reports it again
    and again."""
    since = timezone.now() - window
    reactivated = subscriber.status_changes.filter(to_status=Subscriber.Status.ACTIVE).aggregate(
        at=Max("created_at")
    )["at"]
    if reactivated and reactivated > since:
        since = reactivated
    events = subscriber.esp_events.filter(kind=Kind.SOFT_BOUNCE, matched=True)
    return events.filter(created_at__gte=since).values("message_id").distinct().count()
