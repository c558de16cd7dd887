"""A digest's links: its own view-in-browser page (a signed token per delivery), a "more /
less like this" link per paper, and the subscriber's manage, unsubscribe and feed links that
every digest carries; and a reader's past digests, each by its view-in-browser link (the
archive on their manage page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core import signing
from django.urls import reverse

from digest.delivery import editions
from digest.models import Delivery, Paper
from subscribers.links import absolute, feed_url, manage_url, unsubscribe_url
from subscribers.models import Feedback, Subscriber
from subscribers.tokens import BadToken

# The salt predates this module (the token was a subscriber token once); changing it would
# break every view-in-browser link already sent.
VIEW_SALT = "paperdigest.subscribers.view"


def make_view_token(delivery: Delivery) -> str:
    """For "view in browser": one delivery, dead once the subscriber's links are reset."""
    return signing.dumps([delivery.pk, delivery.subscriber.token_version], salt=VIEW_SALT)


def read_view_token(token: str) -> Delivery:
    """The delivery a view token opens, or BadToken."""
    try:
        pk, version = signing.loads(token, salt=VIEW_SALT)
        delivery = Delivery.objects.select_related("subscriber", "edition").get(
            pk=int(pk), edition__isnull=False
        )
    except (signing.BadSignature, ValueError, TypeError, Delivery.DoesNotExist):
        raise BadToken from None
    if delivery.subscriber.token_version != version:
        raise BadToken
    return delivery


def view_url(delivery: Delivery) -> str:
    return absolute(reverse("view_digest", args=[make_view_token(delivery)]))


# "More like this" / "less like this": one link per (delivery, paper, action); the token holds
# ids only, never an address.
RATE_SALT = "paperdigest.feedback"


@dataclass(frozen=True)
class RatingLink:
    """What a rating link rates: this reader's paper, from this digest of theirs."""

    delivery: Delivery
    paper: Paper
    action: str  # Feedback.Action

    @property
    def subscriber(self) -> Subscriber:
        return self.delivery.subscriber


def make_rating_token(delivery: Delivery, paper_id: int, action: str) -> str:
    # No timestamp (they never expire) and plain ids, not encoded JSON: a digest carries a
    # hundred of these, and Gmail clips a message past ~102 kB.
    payload = f"{delivery.pk}.{paper_id}.{action}.{delivery.subscriber.token_version}"
    return signing.Signer(salt=RATE_SALT).sign(payload)


def rating_url(delivery: Delivery, paper_id: int, action: str) -> str:
    return absolute(reverse("rate", args=[make_rating_token(delivery, paper_id, action)]))


def read_rating_token(token: str) -> RatingLink:
    """What a rating link rates, or BadToken: forged, truncated, for a paper its digest did
    not hold, or from before the reader's links were reset."""
    try:
        pk, paper_id, action, version = signing.Signer(salt=RATE_SALT).unsign(token).split(".")
        delivery = Delivery.objects.select_related("subscriber").get(
            pk=int(pk), edition__isnull=False
        )
        paper = Paper.objects.get(pk=int(paper_id), hidden=False)  # an operator hid it
    except (
        signing.BadSignature,
        ValueError,
        TypeError,
        Delivery.DoesNotExist,
        Paper.DoesNotExist,
    ):
        raise BadToken from None
    if (
        str(delivery.subscriber.token_version) != version
        or action not in Feedback.Action.values
        or paper.pk not in delivery.paper_ids
    ):
        raise BadToken
    return RatingLink(delivery, paper, action)


@dataclass(frozen=True)
class EmailLinks:
    """A digest's links. Inert links (previews, test digests, "as sent" pages for operators)
    are empty: the templates show a marked placeholder and no List-Unsubscribe is set."""

    manage: str = ""
    unsubscribe: str = ""
    view: str = ""  # "" for an email that is no delivery (a preview, a test)
    feed: str = ""  # the reader's Atom feed

    @property
    def inert(self) -> bool:
        return not self.unsubscribe


def email_links(subscriber: Subscriber, delivery: Delivery | None = None) -> EmailLinks:
    """The subscriber's own links, and the view-in-browser link of a delivery."""
    return EmailLinks(
        manage=manage_url(subscriber),
        unsubscribe=unsubscribe_url(subscriber),
        view=view_url(delivery) if delivery and delivery.pk else "",
        feed=feed_url(subscriber),
    )


INERT = EmailLinks()
ARCHIVE_LENGTH = 20  # past digests listed on the manage page


@dataclass(frozen=True)
class PastDigest:
    """One digest a reader was sent, as their archive lists it."""

    frequency: str  # "Daily", "Weekly"
    sent_at: datetime
    period: date  # the reader's own day, or the Monday of their week, it was for
    papers: int
    url: str  # its view-in-browser page


def past_digests(subscriber: Subscriber, limit: int = ARCHIVE_LENGTH) -> list[PastDigest]:
    """The reader's latest sent digests, newest first (skipped and failed ones never came)."""
    sent = subscriber.deliveries.filter(
        status=Delivery.Status.SENT, edition__isnull=False
    ).select_related("edition")
    return [
        PastDigest(
            frequency=delivery.edition.get_frequency_display(),
            sent_at=delivery.sent_at,
            period=editions.period_start(delivery.period),
            papers=len(delivery.paper_ids),
            url=view_url(delivery),
        )
        for delivery in sent.order_by("-sent_at", "-pk")[:limit]
    ]
