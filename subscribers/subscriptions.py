"""What subscribers (and operators) can do, one function per action.

Signing up shows the same page whatever the address's state; only the email differs, so
nobody can learn from the site whether an address is subscribed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from subscribers.addresses import normalize_email
from subscribers.models import StatusChange, Subscriber
from subscribers.ratelimit import allow

log = logging.getLogger(__name__)
Status = Subscriber.Status


def subscribe(email: str, *, query: str, frequency: str, per_email: int) -> Subscriber:
    """Start a double opt-in, or send the right email for an address we already know."""
    try:
        with transaction.atomic():
            subscriber, created = Subscriber.objects.select_for_update().get_or_create(
                email_key=normalize_email(email),
                defaults={
                    "email": email,
                    "query": query,
                    "frequency": frequency,
                    "per_email": per_email,
                },
            )
    except IntegrityError:  # the same address signed up twice at once; the other one won
        return Subscriber.objects.get(email_key=normalize_email(email))
    if created:
        _send(subscriber, "confirm")
    elif subscriber.status == Status.ACTIVE:
        _send(subscriber, "already_subscribed")  # their preferences stay as they were
    elif subscriber.status == Status.COMPLAINED:
        _note_return_after_complaint(subscriber)
    else:
        _restart(subscriber, query=query, frequency=frequency, per_email=per_email)
    return subscriber


def import_pending(email: str, *, query: str, frequency: str, per_email: int, reason: str) -> bool:
    """An operator's import: a new pending subscriber who gets the confirmation email (never
    active without their click). False, and nothing changes, if the address is known."""
    try:
        with transaction.atomic():
            subscriber = Subscriber.objects.create(
                email=email, query=query, frequency=frequency, per_email=per_email
            )
            StatusChange.objects.create(
                subscriber=subscriber,
                from_status=Status.PENDING,
                to_status=Status.PENDING,
                reason=reason[:500],
            )
    except IntegrityError:
        return False
    _send(subscriber, "confirm")
    return True


def _restart(subscriber: Subscriber, **preferences: object) -> None:
    for name, value in preferences.items():
        setattr(subscriber, name, value)
    subscriber.save(update_fields=list(preferences))
    if subscriber.status != Status.PENDING:
        subscriber.restart(f"signed up again while {subscriber.status}")
    _send(subscriber, "confirm")


def confirm(subscriber: Subscriber) -> bool:
    """Activate a pending subscriber; True if this call did it."""
    if subscriber.status != Status.PENDING:
        return False
    subscriber.confirm()
    return True


def resend_confirmation(subscriber: Subscriber) -> None:
    if subscriber.status == Status.PENDING:
        _send(subscriber, "confirm")


def update_preferences(
    subscriber: Subscriber, *, query: str, frequency: str, per_email: int, paused: bool
) -> None:
    subscriber.query, subscriber.frequency = query, frequency
    subscriber.per_email, subscriber.paused = per_email, paused
    subscriber.save(update_fields=["query", "frequency", "per_email", "paused"])


def unsubscribe(subscriber: Subscriber, reason: str) -> bool:
    """Stop all email to this subscriber; True if they were not unsubscribed already."""
    if subscriber.status in (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED):
        return False
    subscriber.unsubscribe(reason)
    return True


def resubscribe(subscriber: Subscriber) -> bool:
    """Undo an unsubscribe from the subscriber's own signed link (which proves the mailbox)."""
    if subscriber.status != Status.UNSUBSCRIBED:
        return False
    subscriber.confirm("resubscribed from their preferences link")
    return True


def suppress(subscriber: Subscriber, status: str, reason: str) -> bool:
    """Stop sending after a hard bounce or a spam complaint reported by the ESP."""
    if subscriber.status == status:
        return False
    subscriber.change_status(status, reason)
    return True


RETURN_AFTER_COMPLAINT = "signed up again after a spam complaint: nothing sent until lifted"


def _note_return_after_complaint(subscriber: Subscriber) -> None:
    # No email at all, not even a confirmation: the signup may be anyone's, and mailing
    # someone who reported us as spam hurts every reader's delivery. The note (once per
    # complaint) lets an operator see it and lift the suppression, which sends the link.
    latest = subscriber.status_changes.first()
    if latest is None or latest.reason != RETURN_AFTER_COMPLAINT:
        subscriber.change_status(Status.COMPLAINED, RETURN_AFTER_COMPLAINT)


def lift_suppression(subscriber: Subscriber, reason: str) -> bool:
    """An operator undoes a bounce or a complaint; True if the subscriber was suppressed.

    A mistaken bounce does not withdraw consent: a confirmed subscriber is active again. A
    complaint does: they become unsubscribed and get a confirmation link, so only their own
    click brings the digest back. Someone whose confirmation bounced gets it again."""
    if subscriber.status not in (Status.BOUNCED, Status.COMPLAINED):
        return False
    if subscriber.status == Status.BOUNCED and subscriber.confirmed_at:
        subscriber.change_status(Status.ACTIVE, reason)
        return True
    complained = subscriber.status == Status.COMPLAINED
    subscriber.change_status(Status.UNSUBSCRIBED if complained else Status.PENDING, reason)
    resend_confirmation(subscriber)
    return True


def _send(subscriber: Subscriber, kind: str) -> None:
    # The per-address limit is silent on purpose: the page must look the same either way.
    if not allow("signup-address", subscriber.email_key, settings.SIGNUP_LIMIT_PER_ADDRESS):
        log.info("not emailing subscriber %s: per-address limit reached", subscriber.pk)
        return
    from subscribers.tasks import send_subscriber_email_task

    pk = subscriber.pk
    transaction.on_commit(lambda: send_subscriber_email_task.delay(pk, kind))
