"""Digests that are shown rather than delivered: a subscriber's next digest (previews, the
admin), a delivered one rebuilt (view in browser, "as sent"), and test digests to operators.
Nothing here writes a Delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from digest.delivery import composing, editions
from digest.delivery.links import INERT
from digest.delivery.sending import EditionPapers
from digest.matching.index import Match, match_papers
from digest.matching.query import QueryError, parse_query
from digest.models import Delivery, Edition, Frequency, Paper
from lib.emails import open_connection
from subscribers.models import Subscriber


def upcoming_edition(frequency: str, now: datetime | None = None) -> Edition:
    """An edition closing now (unsaved) with one period's papers: for test digests."""
    now = now or timezone.now()
    return Edition(
        frequency=frequency,
        period=now.date(),
        window_start=now - Frequency(frequency).span,
        window_end=now,
    )


def reader_window_start(subscriber: Subscriber, end: datetime) -> datetime:
    """Where this reader's digest closing at `end` would start (editions.window_start)."""
    previous = editions.latest_digest_end(subscriber)
    return editions.window_start(previous, subscriber.created_at, end)


def compose_for(
    subscriber: Subscriber, edition: Edition, papers: EditionPapers
) -> tuple[EmailMultiAlternatives, Sequence[Match]]:
    """Match and compose one subscriber's digest without sending it (QueryError if invalid);
    its links are inert: previews and test digests reach operators, not the subscriber."""
    matches = papers.matches_for(subscriber)
    message = composing.digest_message(
        subscriber,
        edition,
        matches,
        papers.papers,
        urls=INERT,
        highlighter=papers.highlighter,
    )
    return message, matches


def next_digest(
    subscriber: Subscriber, now: datetime | None = None
) -> tuple[EmailMultiAlternatives, Sequence[Match]]:
    """The digest this subscriber would get if their next edition closed now (not sent)."""
    now = now or timezone.now()
    start = reader_window_start(subscriber, now) if subscriber.pk else now
    edition = Edition(
        frequency=subscriber.frequency, period=now.date(), window_start=start, window_end=now
    )
    papers = EditionPapers.for_reader(start, now, subscriber.listing)
    return compose_for(subscriber, edition, papers)


def delivered_digest(delivery: Delivery, *, inert: bool = False) -> EmailMultiAlternatives:
    """Rebuild a sent digest: its papers, in its order, re-explained. For "view in browser"
    (the subscriber's links, with a notice saying so) or, `inert`, for operators."""
    papers, matches = delivered_matches(delivery)
    return composing.digest_message(
        delivery.subscriber,
        delivery.edition,
        matches,
        papers.papers,
        delivery=delivery,
        urls=INERT if inert else None,
        page_notice=not inert,
    )


def delivered_matches(delivery: Delivery) -> tuple[EditionPapers, list[Match]]:
    """A sent digest's papers as they are now (those still stored), each re-explained for its
    reader, in the digest's order: for view in browser and the reader's feed."""
    stored = Paper.objects.in_bulk(delivery.paper_ids)
    papers = EditionPapers.of(stored[pk] for pk in delivery.paper_ids if pk in stored)
    order = {pk: i for i, pk in enumerate(delivery.paper_ids)}
    reader = delivery.subscriber
    if reader.has_profile or reader.rated_at or not _plain_keywords(delivery.query):
        # Papers may have come by meaning: each is explained, whatever brought it.
        matches = papers.explain_each(delivery.subscriber, delivery.query)
    else:
        matches = match_papers(parse_query(delivery.query), papers.index, len(order) or 1)
    matches.sort(key=lambda m: order.get(m.paper_id, len(order)))
    return papers, matches


def _plain_keywords(keywords: str) -> bool:
    try:
        parse_query(keywords)
    except QueryError:
        return False
    return True


def send_test_digest(
    to: str,
    *,
    subscriber: Subscriber | None = None,
    query: str = "",
    per_email: int = 10,
    frequency: str = "daily",
) -> str:
    """Send one digest now to an operator, subject marked [Test], recorded nowhere (no
    Delivery row): a subscriber's own, or one for keywords typed by an operator. Its links
    are inert, so the operator's mail client cannot unsubscribe the subscriber. Raises
    QueryError for invalid keywords, TransientSendError/PermanentSendError if the mail server
    says no."""
    subscriber = subscriber or Subscriber(
        email=to, query=query, per_email=per_email, frequency=frequency
    )
    edition = upcoming_edition(subscriber.frequency)
    papers = EditionPapers.of(edition.papers())
    if not papers.papers:  # just after an edition went out: show the last one instead
        edition = Edition.objects.filter(frequency=subscriber.frequency).first() or edition
        papers = EditionPapers.of(edition.papers())
    message, matches = compose_for(subscriber, edition, papers)
    message.subject = f"[Test] {message.subject}"
    message.to = [to]
    message.tags = ["test"]  # type: ignore[attr-defined]
    with open_connection() as connection:
        connection.send_messages([message])
    return f"test digest with {len(matches)} papers sent to {to}"
