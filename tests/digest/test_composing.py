"""The digest page rendered once with markers says exactly what the templates say."""

from __future__ import annotations

import re
import secrets
from html import unescape

import pytest
from django.utils.safestring import mark_safe

from digest import composing

VALUES = {
    "subject": "2 new papers on pruning, <b>graphs</b> — Nov 24",
    "preheader": 'Global "channel" pruning & <script>alert(1)</script>',
    "heading": "2 new papers on your topics",
    "edition_label": "Daily digest · Tuesday, November 24",
    "view_url": "https://digest.example.org/digest/abc:def/",
    "papers_text": "\n1. Pruning\n\n2. Graphs\n",
    "frequency": "daily",
    "recipient": "o'brien+digest@example.org",
    "topics": 'pruning, "graph neural", <img src=x onerror=alert(1)>, \u202eevil',
    "manage_url": "https://digest.example.org/manage/abc:def/",
    "unsubscribe_url": "https://digest.example.org/unsubscribe/abc:def/",
}
PAPERS_HTML = '<table class="paper"><tr><td>Already inlined</td></tr></table>'


def test_the_prerendered_frame_matches_the_templates():
    slot = f"<!--papers-{secrets.token_hex(8)}-->"
    context = {**VALUES, "papers_html": mark_safe(slot)}
    subject, text, html = composing.render_parts("digest", context, {slot: PAPERS_HTML})
    fast = composing.Prerendered().digest(VALUES, PAPERS_HTML)
    assert fast[:2] == (subject, text)
    # The inliner re-serialises what the templates escaped ("&quot;" in text becomes '"'),
    # so compare after one more pass through it; the markup itself must be the same.
    assert composing._inliner.inline(fast[2]) == composing._inliner.inline(html)
    assert PAPERS_HTML in fast[2]
    assert "Daily digest · Tuesday, November 24" in unescape(fast[2])
    assert "digest.example.org/manage/" in fast[2]
    # All ASCII (non-ASCII as character references), the kept <style> block as written.
    assert fast[2].isascii() and html.isascii() and "&#183;" in html
    kept = re.search(r'<style data-css-inline="keep">.*?</style>', html, re.S).group()
    assert kept.isascii() and kept in fast[2]


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_value_is_escaped_in_the_html(name):
    hostile = dict(VALUES, **{name: '<script>alert("x")</script>'})
    _, _, html = composing.Prerendered().digest(hostile, PAPERS_HTML)
    assert "<script>" not in html


@pytest.mark.django_db
def test_kept_highlights_give_each_subscriber_their_own_words(monkeypatch):
    from digest import sending
    from digest.matching import match_papers
    from digest.query import parse_query
    from tests.factories import PaperFactory

    paper = PaperFactory(
        title="Pruning <b>graph</b> networks", abstract="We prune graph networks & more."
    )
    papers = sending.EditionPapers.of([paper])

    def rendered(query: str, prerendered: composing.Prerendered) -> tuple[str, str]:
        (match,) = match_papers(parse_query(query), papers.index)
        return prerendered.paper(paper, match)

    monkeypatch.setattr(composing, "MAX_KEPT_HIGHLIGHTS", 2)
    monkeypatch.setattr(composing, "MAX_KEPT_PAPERS", 3)
    kept = composing.Prerendered()
    first = [rendered(q, kept) for q in ("pruning", "graph", "pruning")]
    assert len(kept._highlights) == 2 and len(kept._rendered) == 2
    assert rendered("networks", kept) == rendered("networks", composing.Prerendered())
    assert len(kept._highlights) == 2  # full: the third is rendered, not kept
    assert first[0] == first[2] == rendered("pruning", composing.Prerendered())
    assert first[0] != first[1]
    assert "&lt;b&gt;graph&lt;/b&gt;" in first[0][0] and "<mark" in first[1][0]
    # Same words, other topics: the highlight is shared, the "matched" line is their own.
    other = rendered("pruned", kept)
    assert other != first[0] and "matched: pruned" in other[1]
    assert rendered("graph OR pruning", kept) == rendered(
        "graph OR pruning", composing.Prerendered()
    )
    assert len(kept._rendered) == 3  # bounded


def test_braces_in_values_and_in_the_rendered_text_stay_literal():
    values = dict(VALUES, subject="{subject} {0} {", topics="}{heading}")
    subject, text, html = composing.Prerendered().digest(values, "{papers_html} {{x}}")
    assert subject == "{subject} {0} {"
    assert "}{heading}" in text and "}{heading}" in html
    assert "{papers_html} {{x}}" in html
    stencil = composing.Stencil("a {b} {{c}} MtitleM} z", "M")
    assert stencil.fill({"title": "{title}"}) == "a {b} {{c}} {title}} z"


@pytest.mark.django_db
def test_a_paper_with_braces_in_its_text_renders_them(mailoutbox):
    from digest import sending
    from digest.matching import match_papers
    from digest.query import parse_query
    from tests.factories import PaperFactory

    paper = PaperFactory(
        title="Pruning {title} sets {x | x > 0}", abstract="We prune {excerpt} and }{ more."
    )
    papers = sending.EditionPapers.of([paper])
    (match,) = match_papers(parse_query("pruning"), papers.index)
    html, text = composing.Prerendered().paper(paper, match)
    assert "{title} sets {x | x &gt; 0}" in html and "{excerpt} and }{ more." in html
    assert "Pruning {title} sets {x | x > 0}" in text


@pytest.mark.django_db
def test_subscribers_with_the_same_keywords_share_matches_not_links(monkeypatch):
    from digest import sending
    from digest.query import QueryError
    from subscribers import links
    from tests.factories import PaperFactory, SubscriberFactory

    PaperFactory(title="Pruning graph networks", abstract="We prune graph networks.")
    PaperFactory(title="Graph transformers", abstract="Attention over graphs.")
    monkeypatch.setattr(sending, "MAX_KEPT_MATCHES", 3)
    edition = sending.plan_edition("daily")
    papers = sending.EditionPapers.for_edition(edition)
    ada, bob = (SubscriberFactory(query="pruning\ngraph", per_email=5) for _ in range(2))
    ada_message, ada_matches = sending.compose_for(ada, edition, papers)
    bob_message, bob_matches = sending.compose_for(bob, edition, papers)
    assert bob_matches is ada_matches and len(ada_matches) == 2
    assert papers.matches("pruning\ngraph", 1) == ada_matches[:1]  # another limit, its own
    # The papers are the same; the links and the recipient are each subscriber's own.
    for message, subscriber, other in ((ada_message, ada, bob), (bob_message, bob, ada)):
        own, others = (links.unsubscribe_url(s) for s in (subscriber, other))
        for part in (message.body, message.alternatives[0][0]):
            assert subscriber.email in part and other.email not in part
            assert own.rsplit(":", 1)[0] in part and others.rsplit(":", 1)[0] not in part
    assert ada_message.body.count("Pruning graph networks") == 1
    # Invalid keywords raise every time and are never kept; the caches stay bounded.
    for _ in range(2):
        with pytest.raises(QueryError):
            papers.matches('"unclosed', 10)
    for query in ("transformers", "attention", "networks", "pruning"):
        message = composing.digest_message(
            ada, edition, papers.matches(query, 10), papers.papers, prerendered=papers.prerendered
        )
        pruning_paper = query in ("networks", "pruning")
        assert ("Pruning graph networks" in message.body) is pruning_paper
        assert ("Graph transformers" in message.body) is not pruning_paper
    assert len(papers._matches) == 3
    assert papers.matches("networks", 10) == tuple(
        sending.EditionPapers.for_edition(edition).matches("networks", 10)
    )


@pytest.mark.django_db
def test_previews_empty_digests_and_confirmations_are_ascii_html_too():
    from digest import sending
    from subscribers import emails
    from tests.factories import PaperFactory, SubscriberFactory

    PaperFactory(title="Élagage — pruning", abstract="Nous élaguons.", authors=["Zoë Ångström"])
    subscriber = SubscriberFactory(query="pruning", email="zoe@example.org")
    preview, _ = sending.next_digest(subscriber)
    empty, _ = sending.next_digest(SubscriberFactory(query="nothing matches this"))
    confirm = emails.confirmation(subscriber)
    for message, readable in (
        (preview, "Élagage — pruning"),
        (empty, "Nothing new on your topics"),
        (confirm, "/confirm/"),
    ):
        html = message.alternatives[0][0]
        assert html.isascii()
        assert readable in unescape(html) and readable in message.body
