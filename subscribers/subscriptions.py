"""What subscribers (and operators) can do, one function per action.

Signing up shows the same page whatever the address's state; only the email differs, so
nobody can learn from the site whether an address is subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from digest.matching import profiles
from digest.matching.seeds import SeedRef, parse_seed_text
from subscribers.addresses import normalize_email
from subscribers.models import Feedback, StatusChange, Subscriber
from subscribers.signals import email_due, profile_due
from subscribers.tokens import Preferences

log = logging.getLogger(__name__)
Status = Subscriber.Status


# A confirm link can activate a subscriber in these states; "complained" is not among them:
# someone who reported us as spam is only emailed again if an operator lifts it.
CONFIRMABLE = (Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED)


def subscribe(
    email: str,
    *,
    query: str,
    frequency: str,
    per_email: int,
    interest: str = "",
    seeds: Sequence[SeedRef] = (),
    **schedule: Any,
) -> Subscriber:
    """Start a double opt-in, or send the right email for an address we already know.

    A known address's stored subscription is not touched: the new preferences travel in the
    new confirmation link and apply only when that link is used, so typing someone else's
    address changes nothing of theirs (their old links keep meaning what they meant). The
    link carries seed papers by arXiv id or DOI (a seed known only by its title is kept only
    for a new address). `schedule`: time_zone, send_hour, send_weekday, ranking, listing."""
    preferences = Preferences(query, frequency, per_email, interest, seed_lines(seeds), **schedule)
    stored = {
        "query": query,
        "frequency": frequency,
        "per_email": per_email,
        "interest": interest,
        **schedule,
    }
    try:
        with transaction.atomic():
            subscriber, created = Subscriber.objects.get_or_create(
                email_key=normalize_email(email), defaults={"email": email, **stored}
            )
            if created and (seeds or interest.strip()):
                # Stored as given, found by the profile task: a new address costs the
                # request no more than a known one (nothing to tell them apart by).
                profiles.set_seeds(subscriber, seeds, resolve=False)
    except IntegrityError:  # the same address signed up twice at once; the other one won
        return Subscriber.objects.get(email_key=normalize_email(email))
    if created:
        _send(subscriber, "confirm")
    elif subscriber.status == Status.ACTIVE:
        _send(subscriber, "already_subscribed")  # their preferences stay as they were
    elif subscriber.status == Status.COMPLAINED:
        _note_return_after_complaint(subscriber)
    else:
        _send(subscriber, "confirm", preferences)
    return subscriber


def import_pending(email: str, *, query: str, frequency: str, per_email: int, reason: str) -> bool:
    """An operator's import: a new pending subscriber who gets the confirmation email (never
    active without their click). False, and nothing changes, if the address is known."""
    subscriber = Subscriber(email=email, query=query, frequency=frequency, per_email=per_email)
    try:
        add_pending(subscriber, reason)
    except IntegrityError:
        return False
    return True


def add_pending(subscriber: Subscriber, reason: str) -> None:
    """Save a new subscriber an operator entered as pending, and send the confirmation email:
    nobody becomes active without their own click."""
    subscriber.status = Status.PENDING
    with transaction.atomic():
        subscriber.save()
        StatusChange.objects.create(
            subscriber=subscriber,
            from_status=Status.PENDING,
            to_status=Status.PENDING,
            reason=reason[:500],
        )
    _send(subscriber, "confirm")


def confirm(subscriber: Subscriber, preferences: Preferences | None = None) -> bool:
    """Activate from a confirm link, with the preferences it carries (None: as stored); True
    if this call did it. Coming back from unsubscribed or bounced starts a fresh set of
    links, as resubscribing does: the address may have changed hands since the old emails."""
    if subscriber.status not in CONFIRMABLE:
        return False
    coming_back = subscriber.status != Status.PENDING
    with transaction.atomic():
        if preferences is not None:
            _save_preferences(subscriber, preferences)
        if coming_back:
            _reset_links(subscriber)
        subscriber.confirm(
            "confirmed a new signup by email link" if coming_back else "confirmed by email link"
        )
        if subscriber.has_profile:  # seeds are fetched for confirmed readers only
            _profile_due(subscriber)
    return True


def resend_confirmation(subscriber: Subscriber, preferences: Preferences | None = None) -> None:
    """Send a confirmation again (from an expired link, or an operator), if one still applies."""
    if subscriber.status in CONFIRMABLE:
        _send(subscriber, "confirm", preferences)


def update_preferences(
    subscriber: Subscriber,
    *,
    query: str,
    frequency: str,
    per_email: int,
    paused: bool,
    interest: str | None = None,
    seeds: Sequence[SeedRef] | None = None,
    **schedule: Any,
) -> None:
    """Save the preferences page; a changed interest or set of seeds makes the profile again.
    `schedule`: time_zone, send_hour, send_weekday, ranking, listing."""
    # A ModelForm has already set the new values on `subscriber`: compare with what is stored.
    stored_interest = Subscriber.objects.filter(pk=subscriber.pk).values_list("interest", flat=True)
    changed_interest = interest is not None and [interest] != list(stored_interest)
    subscriber.query, subscriber.frequency = query, frequency
    subscriber.per_email, subscriber.paused = per_email, paused
    if interest is not None:
        subscriber.interest = interest
    for name, value in schedule.items():
        setattr(subscriber, name, value)
    fields = ["query", "frequency", "per_email", "paused", "interest", *schedule]
    with transaction.atomic():
        subscriber.save(update_fields=fields)
        changed_seeds = seeds is not None and profiles.set_seeds(subscriber, seeds)
        if changed_interest or changed_seeds:
            _profile_due(subscriber)


def seed_lines(seeds: Sequence[SeedRef]) -> str:
    """Seeds as a confirm link carries them: an arXiv id or DOI per line."""
    return "\n".join(ref.arxiv_id or ref.doi for ref in seeds if ref.arxiv_id or ref.doi)


def _profile_due(subscriber: Subscriber) -> None:
    pk = subscriber.pk
    transaction.on_commit(lambda: profile_due.send(Subscriber, subscriber_id=pk))


def unsubscribe(subscriber: Subscriber, reason: str) -> bool:
    """Stop all email to this subscriber; True if they were not unsubscribed already."""
    if subscriber.status in (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED):
        return False
    subscriber.unsubscribe(reason)
    return True


def resubscribe(subscriber: Subscriber) -> bool:
    """Undo an unsubscribe from the subscriber's own signed link (which proves the mailbox).
    Like a confirmed new signup, this starts a fresh set of links."""
    if subscriber.status != Status.UNSUBSCRIBED:
        return False
    with transaction.atomic():
        _reset_links(subscriber)
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


def _save_preferences(subscriber: Subscriber, preferences: Preferences) -> None:
    fields = {k: v for k, v in asdict(preferences).items() if k != "seeds"}
    for name, value in fields.items():
        setattr(subscriber, name, value)
    subscriber.save(update_fields=list(fields))
    # A signup's preferences replace the stored ones whole, seed papers included.
    profiles.set_seeds(subscriber, parse_seed_text(preferences.seeds).refs, resolve=False)


def _reset_links(subscriber: Subscriber) -> None:
    subscriber.token_version += 1
    subscriber.save(update_fields=["token_version"])


def _send(subscriber: Subscriber, kind: str, preferences: Preferences | None = None) -> None:
    # Whatever sends it checks the subscriber's state and the per-address limit itself, when
    # it runs (subscribers.emails.send).
    pk, carried = subscriber.pk, asdict(preferences) if preferences else None
    transaction.on_commit(
        lambda: email_due.send(Subscriber, subscriber_id=pk, kind=kind, preferences=carried)
    )


# --- ratings ("more like this" / "less like this") ------------------------------------------


def rate(
    subscriber: Subscriber, paper_id: int, action: str, delivery_id: int | None = None
) -> bool:
    """Record a rating; the same click twice changes nothing, a different one replaces it.
    The next digest's profile is made with it (profiles.with_ratings). True if it changed."""
    with transaction.atomic():
        feedback, created = Feedback.objects.get_or_create(
            subscriber=subscriber,
            paper_id=paper_id,
            defaults={"action": action, "delivery_id": delivery_id},
        )
        changed = created or feedback.action != action
        if not created and changed:  # the latest click stands, and says where it was made
            feedback.action, feedback.delivery_id = action, delivery_id
            feedback.created_at = timezone.now()
            feedback.save(update_fields=["action", "delivery", "created_at"])
        if changed:
            _rated(subscriber)
    return changed


def unrate(subscriber: Subscriber, paper_id: int, action: str | None = None) -> bool:
    """Take a rating back (its removal from the interest card, or, with `action`, an undo,
    which takes back only that click, not a different rating made since): the profile is
    as if it had never been made. True if there was one."""
    ratings = subscriber.feedback.filter(paper_id=paper_id)
    if action is not None:
        ratings = ratings.filter(action=action)
    with transaction.atomic():
        deleted, _ = ratings.delete()
        if deleted:
            _rated(subscriber)
    return bool(deleted)


def forget_seed(subscriber: Subscriber, seed_id: int) -> str | None:
    """Remove one of the reader's seed papers (from their interest card); its title, or None
    if they have no such seed. The profile is made again without it."""
    seed = subscriber.seeds.filter(pk=seed_id).first()
    if seed is None:
        return None
    with transaction.atomic():
        seed.delete()
        _profile_due(subscriber)
    return str(seed)


def forget_interest(subscriber: Subscriber) -> bool:
    """Clear the reader's interest text (from their interest card); True if they had one."""
    if not subscriber.interest.strip():
        return False
    with transaction.atomic():
        subscriber.interest = ""
        subscriber.save(update_fields=["interest"])
        _profile_due(subscriber)
    return True


def forget_ratings(subscriber: Subscriber) -> None:
    """Reset personalization: every rating and the model they taught go; keywords, seeds and
    interest stay."""
    with transaction.atomic():
        subscriber.feedback.all().delete()
        subscriber.rated_at = subscriber.learned = subscriber.learned_at = None
        subscriber.learned_with, subscriber.learned_words = "", {}
        fields = ["rated_at", "learned", "learned_with", "learned_at", "learned_words"]
        subscriber.save(update_fields=fields)


def _rated(subscriber: Subscriber) -> None:
    # rated_at is empty while no rating stands: the reader is matched as before any rating.
    has_ratings = subscriber.feedback.exists()
    subscriber.rated_at = timezone.now() if has_ratings else None
    subscriber.save(update_fields=["rated_at"])
