"""A reader's personal Atom feed: the papers of their latest sent digests, newest digest first
and each digest in its own order, with why each matched, re-explained as "view in browser"
does (previews.delivered_matches), and each paper's "more / less like this" links. Written by
Django's feedgenerator; the signed link, the limits and conditional GET are the view's."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db.models import Max
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, format_html

from digest.delivery.links import rating_url
from digest.delivery.previews import delivered_matches
from digest.matching.index import Match
from digest.models import Delivery, Paper
from subscribers.models import Feedback, Subscriber

FEED_DELIVERIES = 10  # the latest digests a feed shows
FEED_ENTRIES = 100  # and at most this many of their papers
# Part of every ETag: bump it when what a feed shows changes, so cached copies stop matching.
FEED_FORMAT = 2
# XML 1.0 cannot carry these at all (Django's generator refuses them): dropped, never a 500.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class DigestFeed(Atom1Feed):
    """Atom with every author of a paper, a content element (the why, then the abstract) and
    the feed's updated time given, not guessed from its entries' dates."""

    def latest_post_date(self) -> datetime:
        return self.feed.get("updated") or super().latest_post_date()

    def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, item)
        for name in item.get("authors", ()):
            handler.startElement("author", {})
            handler.addQuickElement("name", name)
            handler.endElement("author")
        if item.get("content"):
            handler.addQuickElement("content", item["content"], {"type": "html"})


@dataclass(frozen=True)
class PersonalFeed:
    """A reader's feed as of now: what its ETag, Last-Modified and document are made from."""

    subscriber: Subscriber
    deliveries: Sequence[Delivery]  # newest first

    @classmethod
    def of(cls, subscriber: Subscriber) -> PersonalFeed:
        """The reader's latest sent digests (two small queries; nothing is explained yet)."""
        sent = subscriber.deliveries.filter(
            status=Delivery.Status.SENT, edition__isnull=False
        ).select_related("edition")
        return cls(subscriber, list(sent.order_by("-sent_at", "-pk")[:FEED_DELIVERIES]))

    @property
    def updated(self) -> datetime | None:
        """When the latest digest was sent (None before the first)."""
        return self.deliveries[0].sent_at if self.deliveries else None

    def etag(self) -> str:
        """Changes with a new digest, new links (token_version), an edited or hidden paper,
        or a new interest or profile (the why is explained with them)."""
        papers = {pk for delivery in self.deliveries for pk in delivery.paper_ids}
        edited = Paper.objects.filter(pk__in=papers).aggregate(latest=Max("updated_at"))["latest"]
        reader = self.subscriber
        parts = [
            FEED_FORMAT,
            reader.pk,
            reader.token_version,
            reader.interest,
            reader.profile_model,
            reader.rated_at.isoformat() if reader.rated_at else "",
            hashlib.sha256(bytes(reader.profile or b"")).hexdigest(),
            edited.isoformat() if edited else "",
            *(f"{d.pk}@{d.sent_at.isoformat() if d.sent_at else ''}" for d in self.deliveries),
        ]
        return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]

    def document(self, self_url: str) -> DigestFeed:
        """The Atom document, its self link `self_url` (the address the reader asked for)."""
        feed = DigestFeed(
            title=f"Your matches on {settings.SITE_NAME}",
            link=f"{settings.SITE_URL}/",
            description="",
            feed_url=self_url,
            author_name=settings.SITE_NAME,
            subtitle="New papers matched to what you asked for, with why each matched",
            feed_guid=self_url,  # the feed is its address: new links make a new feed
            updated=self.updated,
        )
        for delivery, paper, match in self.entries():
            feed.add_item(**entry(delivery, paper, match))
        return feed

    def entries(self) -> Iterator[tuple[Delivery, Paper, Match | None]]:
        """Each digest's papers in its order, newest digest first, up to FEED_ENTRIES; papers
        hidden since (a duplicate merged, spam) are left out, as they would be from a digest."""
        count = 0
        for delivery in self.deliveries:
            papers, matches = delivered_matches(delivery)
            why = {m.paper_id: m for m in matches}
            for pk in delivery.paper_ids:
                paper = papers.papers.get(pk)
                if paper is None or paper.hidden:
                    continue
                yield delivery, paper, why.get(pk)
                count += 1
                if count == FEED_ENTRIES:
                    return


def entry(delivery: Delivery, paper: Paper, match: Match | None) -> dict[str, Any]:
    """One paper of one digest as feedgenerator's add_item takes it."""
    why = why_text(match, paper)
    abstract = xml_text(paper.abstract)
    rate = format_html(
        '<p><a href="{}">More like this</a> · <a href="{}">Less like this</a></p>',
        rating_url(delivery, paper.pk, Feedback.Action.MORE),
        rating_url(delivery, paper.pk, Feedback.Action.LESS),
    )
    return {
        "title": xml_text(paper.title),
        "link": paper.abs_url or paper.pdf_url or f"{settings.SITE_URL}/",
        "description": escape(abstract),  # Atom's summary, of type html
        "content": format_html(
            "{}<p>{}</p>{}", format_html("<p>{}</p>", why) if why else "", abstract, rate
        ),
        "pubdate": paper.published_at or paper.first_seen_at,
        "updateddate": delivery.sent_at,
        "unique_id": entry_id(delivery, paper),
        "categories": [xml_text(str(term)) for term in paper.categories or ()],
        "authors": [xml_text(str(name)) for name in paper.authors or ()],
    }


def why_text(match: Match | None, paper: Paper) -> str:
    """ "matched: pruning (in title, abstract) · similar to “…” (0.71) · ▲ 12 upvotes", as the
    digest's email says it."""
    parts = []
    if match is not None and match.matched:
        fields = f" (in {', '.join(match.fields)})" if match.fields else ""
        parts.append(f"matched: {match.matched}{fields}")
    if match is not None and match.because():
        parts.append(match.because())
    if paper.upvotes:
        parts.append(f"▲ {paper.upvotes:,} upvote{'s' if paper.upvotes != 1 else ''}")
    return xml_text(" · ".join(parts))


def entry_id(delivery: Delivery, paper: Paper) -> str:
    """tag:host,2026-11-23:delivery/41/arxiv:2411.00001 — one paper of one digest, for ever."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    day = f"{delivery.sent_at or delivery.created_at:%Y-%m-%d}"
    return f"tag:{host},{day}:delivery/{delivery.pk}/{quote(paper.key, safe=':/')}"


def xml_text(text: str) -> str:
    return NOT_XML.sub("", text)
