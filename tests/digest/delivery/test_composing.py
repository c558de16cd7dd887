"""Digests rendered from the templates: escaping, each subscriber's own words and links, inert
links for operators, and Gmail's clipping size."""

from __future__ import annotations

import re

import pytest

from digest.delivery import composing, previews, sending
from digest.matching.index import match_papers
from digest.matching.query import QueryError, parse_query
from subscribers import links
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.mail import text_and_html

pytestmark = pytest.mark.django_db
GMAIL_CLIPS_AT = 102 * 1024
HTML_BUDGET = 90 * 1024  # what every digest stays under, whatever the settings


def test_hostile_topics_and_titles_are_escaped_in_the_html():
    PaperFactory(title='Pruning <img src=x onerror=alert(1)> & "quotes"', abstract="<b>pruning</b>")
    subscriber = SubscriberFactory(query='pruning\n"<script>alert(1)</script>"')
    message, _ = previews.next_digest(subscriber)
    _, html = text_and_html(message)
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>pruning" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x onerror=alert(1)>" in message.body  # the text part is plain text


def test_braces_in_paper_text_stay_literal():
    paper = PaperFactory(
        title="Pruning {title} sets {x | x > 0}", abstract="We prune {excerpt} and }{ more."
    )
    message, _ = previews.next_digest(SubscriberFactory(query="pruning"))
    _, html = text_and_html(message)
    assert "{title} sets {x | x &gt; 0}" in html and "{excerpt} and }{ more." in html
    assert paper.title in message.body


def test_kept_highlights_give_each_subscriber_their_own_words():
    paper = PaperFactory(title="Pruning graph networks", abstract="We prune graph networks.")
    papers = sending.EditionPapers.of([paper])
    highlighter = composing.Highlighter()

    def marked(query: str) -> list[str]:
        (match,) = match_papers(parse_query(query), papers.index)
        item = highlighter.item(paper, match)
        return [text for text, hit in item.title if hit]

    assert marked("pruning") == ["Pruning"]
    assert marked("networks") == ["networks"]
    assert marked("pruning") == ["Pruning"]  # from what was kept, still its own words
    assert marked("graph OR pruning") == ["Pruning", "graph"]


def test_subscribers_with_the_same_keywords_share_matches_not_links():
    PaperFactory(title="Pruning graph networks", abstract="We prune graph networks.")
    PaperFactory(title="Graph transformers", abstract="Attention over graphs.")
    edition = previews.upcoming_edition("daily")
    papers = sending.EditionPapers.of(edition.papers())
    ada, bob = (SubscriberFactory(query="pruning\ngraph", per_email=5) for _ in range(2))
    assert papers.matches(ada.query, 5) is papers.matches(bob.query, 5)
    for subscriber, other in ((ada, bob), (bob, ada)):
        message = composing.digest_message(
            subscriber, edition, papers.matches(subscriber.query, 5), papers.papers
        )
        # Each one's signed payload (subscriber and version); the timestamps may differ.
        own, others = (
            links.unsubscribe_url(s).split("/")[-2].split(":")[0] for s in (subscriber, other)
        )
        for part in text_and_html(message):
            assert subscriber.email in part and other.email not in part
            assert f"/unsubscribe/{own}:" in part and f"/unsubscribe/{others}:" not in part
    for _ in range(2):  # invalid keywords raise every time
        with pytest.raises(QueryError):
            papers.matches('"unclosed', 10)


def test_previews_carry_inert_marked_links_and_no_list_unsubscribe():
    PaperFactory(title="Pruning", abstract="We prune.")
    subscriber = SubscriberFactory(query="pruning")
    message, _ = previews.next_digest(subscriber)
    text, html = text_and_html(message)
    for part in (text, html):
        assert "/manage/" not in part and "/unsubscribe/" not in part and "/rate/" not in part
        assert "disabled in previews" in part
    assert "List-Unsubscribe" not in message.extra_headers
    assert "List-Unsubscribe-Post" not in message.extra_headers


def largest_edition() -> str:
    """60 papers with long text and many authors; returns the words they are made of. Their
    ids are as long as a large site's, as the rating links carry them."""
    words = "model learning data network training method results performance"
    for n in range(60):
        PaperFactory(
            id=1_000_000_000 + n,
            title=f"{words.title()} {n} " * 8,
            abstract=(f"{words} " * 60).strip(),
            authors=[f"Author Number{i}" for i in range(40)],
            upvotes=12345,
        )
    return words


def test_the_largest_digest_stays_well_under_gmails_clipping_size():
    # The most papers a subscriber can ask for, each with long text, many authors, links and
    # every word of a broad query highlighted.
    words = largest_edition()
    query = "\n".join(words.split()) + "\nmodel*\nlearn*"
    subscriber = SubscriberFactory(query=query, per_email=50)
    message, matches = previews.next_digest(subscriber)
    assert len(matches) == 50
    _, html = text_and_html(message)
    assert len(html.encode()) < HTML_BUDGET < GMAIL_CLIPS_AT
    # The preferences and unsubscribe line comes before the papers as well as after them.
    assert html.index("disabled in previews") < html.index('class="paper-title"')


def test_a_sent_digest_has_its_unsubscribe_link_before_the_first_paper(mailoutbox):
    PaperFactory(title="Pruning at scale", abstract="We prune.")
    subscriber = SubscriberFactory(query="pruning")
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (message,) = mailoutbox
    _, html = text_and_html(message)
    first_unsubscribe = re.search(r'href="[^"]*/unsubscribe/[^"]+"', html).start()
    assert first_unsubscribe < html.index('class="paper-title"')
    assert subscriber.email in html


def test_the_largest_sent_digest_with_its_rating_links_stays_under_gmails_clipping_size(
    mailoutbox,
):
    words = largest_edition()
    query = "\n".join(words.split()) + "\nmodel*\nlearn*"
    SubscriberFactory(query=query, per_email=50)
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (message,) = mailoutbox
    text, html = text_and_html(message)
    assert html.count("/rate/") == 100 and text.count("/rate/") == 100
    assert "More like this" in html and "Less like this" in html
    assert len(html.encode()) < HTML_BUDGET < GMAIL_CLIPS_AT


def test_the_largest_digest_by_keywords_and_meaning_stays_under_gmails_clipping_size():
    # As above, and every paper also says which of the reader's (long-titled) seeds it is like.
    from digest.matching import profiles, vectors
    from digest.matching.seeds import SeedRef

    words = largest_edition()
    seed = PaperFactory(title="Learning " * 60, abstract=(f"{words} " * 60).strip())
    model = vectors.embedder()
    vectors.embed_pending(model)
    query = "\n".join(words.split()) + "\nmodel*\nlearn*"
    subscriber = SubscriberFactory(query=query, per_email=50, interest="data " * 200)
    profiles.set_seeds(subscriber, [SeedRef(arxiv_id=seed.arxiv_id)])
    profiles.refresh(subscriber, model, fetch=False)
    message, matches = previews.next_digest(subscriber)
    assert len(matches) == 50 and all(m.because() for m in matches)
    _, html = text_and_html(message)
    assert len(html.encode()) < HTML_BUDGET < GMAIL_CLIPS_AT


def test_the_subject_names_topics_in_plain_words_never_query_syntax():
    PaperFactory(title="Global pruning", abstract="Fairness of pruned models.")
    subscriber = SubscriberFactory(query="title:global -federated, fair*")
    message, _ = previews.next_digest(subscriber)
    assert message.subject.startswith("1 new paper on global, fair… — ")


def test_a_paper_with_nothing_to_say_why_starts_its_line_with_no_separator(mailoutbox):
    PaperFactory(title="Pruning at scale", abstract="We prune.", upvotes=0)
    SubscriberFactory(query="")  # the most upvoted: no topics, no why, no upvotes here
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (message,) = mailoutbox
    text, html = text_and_html(message)
    assert re.search(r'class="why"[^>]*><a href="https://arxiv.org/pdf/', html)
    assert "\n   · " not in text
