"""Signed links in emails: one salt per purpose, so a manage link never confirms anything.

Every token carries the subscriber's token_version; bumping it (on coming back after an
unsubscribe or a bounce, or by an operator) kills every link sent before. Confirm links expire;
the others do not, because an unsubscribe link in a months-old email must still work.

A confirm link made for a signup with an address we already know carries the preferences that
signup asked for: nothing is stored until the link is used, so typing someone's address into
the form changes nothing of theirs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.core import signing

from subscribers.models import DEFAULT_SEND_HOUR, Listing, Ranking, Subscriber, Weekday

# "feed" opens the reader's personal Atom feed: fetching changes nothing (its entries carry
# their digests' rating links, as the digests do), and it dies with their other links.
Purpose = Literal["confirm", "manage", "unsubscribe", "feed"]


@dataclass(frozen=True)
class Preferences:
    """What a signup asked for, carried by its confirm link until the link is used."""

    query: str
    frequency: str
    per_email: int
    interest: str = ""
    seeds: str = ""  # arXiv ids and DOIs, one per line (parsed again when applied)
    # When and how it comes (links made before these existed carry none: the defaults).
    time_zone: str = "UTC"
    send_hour: int = DEFAULT_SEND_HOUR
    send_weekday: int = Weekday.MONDAY
    ranking: str = Ranking.RELEVANCE
    listing: str = Listing.CROSS

    @classmethod
    def of(cls, subscriber: Subscriber) -> Preferences:
        """What is stored for this subscriber (seeds are shown from their own rows)."""
        return cls(
            subscriber.query,
            subscriber.frequency,
            subscriber.per_email,
            subscriber.interest,
            time_zone=subscriber.time_zone,
            send_hour=subscriber.send_hour,
            send_weekday=subscriber.send_weekday,
            ranking=subscriber.ranking,
            listing=subscriber.listing,
        )


@dataclass(frozen=True)
class Confirmation:
    """What a confirm link confirms: this subscriber, with these preferences (None: as stored)."""

    subscriber: Subscriber
    preferences: Preferences | None

    @property
    def wanted(self) -> Preferences:
        """What confirming applies: the preferences carried, else those stored."""
        return self.preferences or Preferences.of(self.subscriber)

    @property
    def wanted_seeds(self) -> list[str]:
        """The seed papers confirming applies, as the reader gave them."""
        return wanted_seeds(self.subscriber, self.preferences)


def wanted_seeds(subscriber: Subscriber, preferences: Preferences | None) -> list[str]:
    """Seeds a confirm link carries (arXiv ids and DOIs), else those stored."""
    if preferences is not None:
        return preferences.seeds.split()
    return [seed.arxiv_id or seed.doi or seed.title for seed in subscriber.seeds.all()]


class BadToken(Exception):
    """Forged, truncated, for another purpose, or from before the subscriber's links were reset."""


class ExpiredToken(Exception):
    """A genuine confirm link that is too old, but young enough to offer a new one."""

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__("expired")
        self.confirmation = confirmation
        self.subscriber = confirmation.subscriber


def make_token(
    subscriber: Subscriber, purpose: Purpose, preferences: Preferences | None = None
) -> str:
    """A signed token for one purpose; only confirm tokens carry preferences."""
    payload: list[object] = [subscriber.pk, subscriber.token_version]
    if preferences is not None:
        if purpose != "confirm":
            raise ValueError("only a confirm link carries preferences")
        payload.append(asdict(preferences))
    # A signup's keywords can be long; compressing keeps the link short enough for any client.
    return signing.dumps(payload, salt=_salt(purpose), compress=True)


def read_token(token: str, purpose: Purpose) -> Subscriber:
    """The subscriber a token belongs to, or BadToken / ExpiredToken."""
    return read_confirmation(token, purpose).subscriber


def read_confirmation(token: str, purpose: Purpose = "confirm") -> Confirmation:
    """The subscriber and the preferences a token carries, or BadToken / ExpiredToken."""
    max_age = confirm_max_age() if purpose == "confirm" else None
    try:
        payload = signing.loads(token, salt=_salt(purpose), max_age=max_age)
    except signing.SignatureExpired:
        raise ExpiredToken(_confirmation(_load_for_resend(token))) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise BadToken from None
    return _confirmation(payload)


def confirm_max_age() -> timedelta:
    return timedelta(days=settings.CONFIRM_LINK_DAYS)


def resend_max_age() -> timedelta:
    """How long an expired confirm link still offers a new one: not forever, or a link
    leaked years ago could keep mailing that address."""
    return timedelta(days=settings.CONFIRM_RESEND_DAYS)


def _load_for_resend(token: str) -> object:
    try:
        return signing.loads(token, salt=_salt("confirm"), max_age=resend_max_age())
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired included
        raise BadToken from None


def _confirmation(payload: object) -> Confirmation:
    try:
        pk, version, *rest = payload  # type: ignore[misc]
        preferences = Preferences(**rest[0]) if rest else None
        subscriber = Subscriber.objects.get(pk=int(pk))
    except (ValueError, TypeError, IndexError, Subscriber.DoesNotExist):
        raise BadToken from None
    if subscriber.token_version != version:
        raise BadToken
    return Confirmation(subscriber, preferences)


def _salt(purpose: str) -> str:
    return f"paperdigest.subscribers.{purpose}"
