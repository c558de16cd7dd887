"""A digest as its reader sees it: each matched paper with the words that matched marked, a
subject naming the topics, the subscriber's links; rendered through lib/emails.py's one render
path (templates/email/digest.*) for sending, previews and the browser alike."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from django.core.mail import EmailMultiAlternatives

from digest.delivery import editions
from digest.delivery.links import EmailLinks, email_links, rating_url
from digest.matching import highlighting, profiles
from digest.matching.index import Match
from digest.matching.query import plain_words, topic_texts
from digest.matching.text import clip
from digest.models import Edition, Frequency
from lib.emails import build_message, new_message_id
from lib.lru import LRU
from subscribers.links import unsubscribe_mailto
from subscribers.models import Feedback, Ranking, Weekday

if TYPE_CHECKING:
    from digest.models import Announcement, Delivery, Paper
    from subscribers.models import Subscriber
    from subscribers.tokens import Preferences


@dataclass(frozen=True)
class Lengths:
    """Characters of each part of a paper shown: the title (feeds can carry anything), the
    abstract's excerpt, the seed title or interest a paper is like, the topics that matched."""

    title: int
    excerpt: int
    like: int
    matched: int


# Long digests show less of each paper, so that the largest (50 papers, every word highlighted,
# with its rating links) stays under 90 kB of HTML, well below Gmail's clipping at ~102 kB.
FULL = Lengths(title=200, excerpt=320, like=90, matched=80)
SHORT = Lengths(title=110, excerpt=120, like=40, matched=40)
LONG_DIGEST = 20  # papers from which a digest is long
Segments = highlighting.Segments
KEPT_HIGHLIGHTS = 5_000  # (paper, matched words) pairs a chunk keeps highlights for


# --- digests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperItem:
    """One paper of a digest as the templates show it: the words that matched marked, and
    each value ready to print (a digest shows hundreds; each lookup in a template costs)."""

    paper_id: int
    title: highlighting.Segments
    excerpt: highlighting.Segments
    excerpt_text: str  # the excerpt for the plain-text part, wrapped
    url: str  # the abstract page
    pdf_url: str
    authors: str
    upvotes: str  # "1,234 upvotes", or "" for none
    matched: str  # the topics that matched
    fields: str  # "title, abstract": where the words were found
    because: str  # why by meaning: "similar to “…” (0.71)"; "" for keywords alone
    more_url: str = ""  # "more like this" and "less like this": only in a sent digest
    less_url: str = ""

    @classmethod
    def of(
        cls,
        paper: Paper,
        match: Match,
        marked: tuple[Segments, Segments, str],
        lengths: Lengths = FULL,
    ) -> PaperItem:
        count = paper.upvotes or 0
        return cls(
            paper.pk,
            *marked,
            url=paper.abs_url,
            pdf_url=paper.pdf_url,
            authors=paper.authors_display,
            upvotes=f"{count:,} upvote{'s' if count != 1 else ''}" if count else "",
            matched=clip(match.matched, lengths.matched),
            fields=", ".join(match.fields),
            because=match.because(lengths.like),
        )


class Highlighter:
    """Each paper's title and excerpt with a match's words marked. Subscribers with the same
    words share the result (data, not markup), kept per run up to a bound."""

    def __init__(self) -> None:
        self._marked: LRU[tuple[object, ...], tuple[Segments, Segments, str]] = LRU(KEPT_HIGHLIGHTS)
        self._indexed: dict[int, tuple[highlighting.IndexedText, highlighting.IndexedText]] = {}

    def items(self, matches: Sequence[Match], papers: dict[int, Paper]) -> list[PaperItem]:
        """A digest's papers in its order; long digests show less of each (Gmail clips)."""
        lengths = FULL if len(matches) <= LONG_DIGEST else SHORT
        return [self.item(papers[m.paper_id], m, lengths) for m in matches if m.paper_id in papers]

    def item(self, paper: Paper, match: Match, lengths: Lengths = FULL) -> PaperItem:
        if lengths is SHORT and match.like_kind:
            # In a long digest, the "why" by meaning takes the place of some of the excerpt.
            lengths = replace(lengths, excerpt=lengths.excerpt - lengths.like)
        key = (paper.pk, match.stems, match.prefixes, lengths.title, lengths.excerpt)
        marked = self._marked.get_or_make(
            key, lambda: self._mark(paper, match.stems, match.prefixes, lengths)
        )
        return PaperItem.of(paper, match, marked, lengths)

    def _mark(
        self, paper: Paper, stems: frozenset[str], prefixes: tuple[str, ...], lengths: Lengths
    ) -> tuple[Segments, Segments, str]:
        words = Match(paper.pk, 0.0, (), (), (), stems, prefixes)
        title_index, abstract_index = self._index(paper)
        title = clip(paper.title, lengths.title)
        excerpt = highlighting.excerpt(paper.abstract, words, lengths.excerpt, abstract_index)
        text = textwrap.fill("".join(part for part, _ in excerpt), 72, subsequent_indent="   ")
        return (
            highlighting.highlight(title, words, title_index if title == paper.title else None),
            excerpt,
            text,
        )

    def _index(self, paper: Paper) -> tuple[highlighting.IndexedText, highlighting.IndexedText]:
        # One per paper of the run's editions: bounded by the papers the run holds anyway.
        found = self._indexed.get(paper.pk)
        if found is None:
            found = self._indexed[paper.pk] = (
                highlighting.IndexedText.of(paper.title),
                highlighting.IndexedText.of(paper.abstract),
            )
        return found


def digest_message(
    subscriber: Subscriber,
    edition: Edition,
    matches: Sequence[Match],
    papers: dict[int, Paper],
    *,
    delivery: Delivery | None = None,
    urls: EmailLinks | None = None,
    highlighter: Highlighter | None = None,
    page_notice: bool = False,
) -> EmailMultiAlternatives:
    """One subscriber's digest: the same rendering for sending, previews and the browser.
    `urls` default to the subscriber's own links; previews pass inert ones. `page_notice`
    (the view-in-browser page) warns that the page's links are the subscriber's."""
    urls = urls or email_links(subscriber, delivery)
    items = (highlighter or Highlighter()).items(matches, papers)
    if delivery and delivery.pk and not urls.inert:
        items = [with_rating_links(item, delivery) for item in items]
    period = _period(subscriber, edition, delivery)
    top = subscriber.wants_top_papers and subscriber.rated_at is None  # else moved by ratings
    context = {
        "subject": digest_subject(matches, edition.frequency, period, top=top),
        "preheader": clip(papers[matches[0].paper_id].title, 110) if items else "",
        "heading": _heading(len(items), top=top),
        "edition_label": _edition_label(edition.frequency, period),
        "items": items,
        "frequency": subscriber.get_frequency_display().lower(),
        "sends_at": sends_at(subscriber),
        "recipient": subscriber.email,
        "topics": reader_wants(subscriber),
        "card": card_line(subscriber),
        "urls": urls,
        "page_notice_for": subscriber.email if page_notice else "",
    }
    metadata = {"frequency": edition.frequency}
    if delivery:
        metadata["edition"] = str(edition.pk)
    return _bulk_message("digest", subscriber, context, urls, delivery, metadata)


def with_rating_links(item: PaperItem, delivery: Delivery) -> PaperItem:
    """A sent digest's paper with its reader's own "more / less like this" links."""
    return replace(
        item,
        more_url=rating_url(delivery, item.paper_id, Feedback.Action.MORE),
        less_url=rating_url(delivery, item.paper_id, Feedback.Action.LESS),
    )


def announcement_message(
    subscriber: Subscriber,
    announcement: Announcement,
    delivery: Delivery | None = None,
    *,
    urls: EmailLinks | None = None,
) -> EmailMultiAlternatives:
    """An operators' announcement to one subscriber, with their links and the same bulk
    headers as a digest (previews pass inert links)."""
    urls = urls or email_links(subscriber)
    context = {
        "subject": announcement.subject,
        "preheader": clip(" ".join(announcement.body.split()), 110),
        "body": announcement.body,
        "recipient": subscriber.email,
        "urls": urls,
    }
    metadata = {"announcement": str(announcement.pk)}
    return _bulk_message("announcement", subscriber, context, urls, delivery, metadata)


def _bulk_message(
    kind: str,
    subscriber: Subscriber,
    context: dict,
    urls: EmailLinks,
    delivery: Delivery | None,
    metadata: dict[str, str],
) -> EmailMultiAlternatives:
    """A digest or announcement with the bulk headers: one-click unsubscribe (none for inert
    links) and a Message-ID stable per delivery, so a re-send after a crash carries the same
    id, which mailbox providers use to fold the duplicate away."""
    if delivery:
        metadata = {**metadata, "delivery": str(delivery.pk)}
    return build_message(
        kind,
        subscriber.email,
        context,
        unsubscribe_url=urls.unsubscribe,
        unsubscribe_mailto=unsubscribe_mailto() if urls.unsubscribe else "",
        message_id=new_message_id(delivery.message_key) if delivery and delivery.pk else "",
        tags=(kind,),  # one tag: Postmark allows no more
        metadata=metadata,
    )


def digest_subject(
    matches: Sequence[Match], frequency: str, period: date, *, top: bool = False
) -> str:
    """ "5 new papers on federated learning, pruning — Nov 24"; papers that came by meaning
    alone read "picked for you"; a reader who named no topics gets "the 10 most upvoted"."""
    when = f"{period:%b} {period.day}"
    if frequency == Frequency.WEEKLY:
        when = f"week of {when}"
    if not matches:
        return f"Nothing new on your topics — {when}"
    if top:
        return f"The {len(matches)} most upvoted new papers — {when}"
    counts = Counter(topic for m in matches for topic in m.topics)
    noun = "paper" if len(matches) == 1 else "papers"
    if not counts:
        return f"{len(matches)} new {noun} picked for you — {when}"
    names = [clip(plain_words(topic), 40) for topic, _ in counts.most_common(2)]
    more = " and more" if len(counts) > 2 or any(not m.topics for m in matches) else ""
    return f"{len(matches)} new {noun} on {', '.join(names)}{more} — {when}"


def reader_wants(subscriber: Subscriber) -> str:
    """What the reader asked for, as the footer says it: their topics, the papers they
    picked, their interest (or the most upvoted papers, for a reader who named none)."""
    if subscriber.wants_top_papers and subscriber.rated_at is not None:
        return "any topic, ranked by your ratings (the most upvoted where they say nothing)"
    if subscriber.wants_top_papers:
        return "any topic (the most upvoted first)"
    wanted = [", ".join(topic_texts(subscriber.query))] if subscriber.query.strip() else []
    if subscriber.profile is not None and subscriber.seeds.exists():
        wanted.append("papers like the ones you picked")
    if subscriber.interest.strip():
        wanted.append(f"your interest “{clip(subscriber.interest.strip(), 80)}”")
    wants = "; ".join(w for w in wanted if w) or "your topics"
    return f"{wants} (most upvoted first)" if subscriber.ranking == Ranking.TRENDING else wants


CARD_TITLES = 2  # latest liked and disliked papers a footer names
CARD_WORDS = 4


def card_line(subscriber: Subscriber) -> str:
    """The interest card as a footer says it, for a reader with a profile or ratings (the
    preferences page shows it whole, each entry removable): "What shapes your digest: …"."""
    if subscriber.profile is None and subscriber.rated_at is None:
        return ""
    card = profiles.interest_card(subscriber)
    parts = []
    if card.seeds:
        parts.append(f"{len(card.seeds)} paper{'s' if len(card.seeds) != 1 else ''} you picked")
    if card.interest:
        parts.append(f"your interest “{clip(card.interest, 60)}”")
    for count, rated, wish in (
        (card.liked_count, card.liked, "more"),
        (card.disliked_count, card.disliked, "fewer"),
    ):
        if count:
            named = ", ".join(f"“{clip(r.title, 50)}”" for r in rated[:CARD_TITLES])
            others = f" (+{count - CARD_TITLES} others)" if count > CARD_TITLES else ""
            parts.append(f"{wish} like {named}{others}")
    for direction, words in (("up", card.words.up), ("down", card.words.down)):
        if words:
            parts.append(f"words weighed {direction}: {', '.join(words[:CARD_WORDS])}")
    return f"What shapes your digest: {'; '.join(parts)}." if parts else ""


def sends_at(subscriber: Subscriber | Preferences) -> str:
    """ "07:00 Europe/Berlin", "Fridays at 07:00 UTC": when their digest comes (as stored, or
    as a confirm link would set it)."""
    at = f"{subscriber.send_hour:02d}:00 {subscriber.time_zone}"
    if subscriber.frequency == Frequency.WEEKLY:
        return f"{Weekday(subscriber.send_weekday).label}s at {at}"
    return at


def _period(subscriber: Subscriber, edition: Edition, delivery: Delivery | None) -> date:
    """The reader's own day, or the Monday of their week, that this digest is for."""
    if delivery is not None and delivery.period:
        return editions.period_start(delivery.period)
    day = edition.window_end.astimezone(editions.zone(subscriber.time_zone)).date()
    return editions.period_start(editions.period_key(edition.frequency, day))


def _heading(count: int, *, top: bool = False) -> str:
    if not count:
        return "Nothing new on your topics this time"
    if top:
        return f"The {count} most upvoted new paper{'s' if count != 1 else ''}"
    return f"{count} new paper{'s' if count != 1 else ''} on your topics"


def _edition_label(frequency: str, period: date) -> str:
    if frequency == Frequency.WEEKLY:
        return f"Weekly digest · week of {period:%B} {period.day}"
    return f"Daily digest · {period:%A, %B} {period.day}"
