"""The transactional emails a subscriber gets: confirm, already subscribed."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from digest.matching.query import topic_texts
from digest.models import Frequency
from lib.emails import build_message, classify, sent_message_id
from subscribers import links
from subscribers.models import Subscriber
from subscribers.ratelimit import allow
from subscribers.subscriptions import CONFIRMABLE
from subscribers.tokens import Preferences, confirm_max_age, wanted_seeds

# Whom each email may go to, checked when it is sent (not only when it was asked for): the
# state may have changed since, and a task can be started by other means than a signup.
SENDS_TO = {"confirm": CONFIRMABLE, "already_subscribed": (Subscriber.Status.ACTIVE,)}


def send(
    subscriber: Subscriber,
    kind: str,
    preferences: Preferences | None = None,
    *,
    first_attempt: bool = True,
) -> str:
    """Send one of these emails if the subscriber's state still calls for it and the address
    is under its hourly limit (counted once per email, not per retry). A failure comes out as
    digest.delivery.sending's TransientSendError (try again later) or PermanentSendError."""
    if subscriber.status not in SENDS_TO[kind]:
        return f"skipped {kind}: subscriber {subscriber.pk} is {subscriber.status}"
    # Silent on purpose: the signup page must look the same either way.
    limit = settings.SIGNUP_LIMIT_PER_ADDRESS
    if first_attempt and not allow("signup-address", subscriber.email_key, limit):
        return f"skipped {kind}: subscriber {subscriber.pk} reached the per-address limit"
    message = (
        confirmation(subscriber, preferences)
        if kind == "confirm"
        else already_subscribed(subscriber)
    )
    try:
        message.send()
    except Exception as exc:
        raise classify(exc) from exc
    subscriber.record_email(kind, sent_message_id(message))  # ESP events are matched to it
    if kind == "confirm":
        subscriber.mark_confirmation_sent()
    return f"sent {kind} to subscriber {subscriber.pk}"


def confirmation(
    subscriber: Subscriber, preferences: Preferences | None = None
) -> EmailMultiAlternatives:
    """The double opt-in email, for what the link will confirm: `preferences` if a signup
    with a known address asked for them, else what is stored."""
    wanted = preferences or Preferences.of(subscriber)
    return _message(
        "confirm",
        subscriber,
        topics=topic_texts(wanted.query) if wanted.query.strip() else [],
        interest=wanted.interest.strip(),
        seeds=wanted_seeds(subscriber, preferences),
        frequency=Frequency(wanted.frequency).label.lower(),
        confirm_url=links.confirm_url(subscriber, preferences),
        confirm_days=confirm_max_age().days,
    )


def already_subscribed(subscriber: Subscriber) -> EmailMultiAlternatives:
    return _message("already_subscribed", subscriber)


def _message(kind: str, subscriber: Subscriber, **context: object) -> EmailMultiAlternatives:
    unsubscribe_url = links.unsubscribe_url(subscriber)
    context = {
        "subscriber": subscriber,
        "topics": topic_texts(subscriber.query),
        "manage_url": links.manage_url(subscriber),
        "unsubscribe_url": unsubscribe_url,
        **context,
    }
    return build_message(
        kind,
        subscriber.email,
        context,
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto(),
        tags=(kind,),
        metadata={"subscriber": str(subscriber.pk)},
    )
