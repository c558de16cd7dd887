"""Property-based fuzzing of the feed normalizer: whatever the bytes, parse() returns papers or
raises FeedError, and what it returns is clean, bounded plain text."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.ingest import readers
from digest.ingest.readers import FeedError, cleaning

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INVISIBLE = cleaning.INVISIBLE
KINDS = st.sampled_from([None, *readers.KINDS])
TEXT = st.text(st.characters(codec="utf-8"), max_size=300)


def assert_clean(result: readers.ParseResult) -> None:
    for paper in result.papers:
        for value in (paper.title, paper.abstract, *paper.authors, *paper.categories):
            assert not INVISIBLE.search(value)
            assert value == value.strip() and "  " not in value
        assert 0 < len(paper.title) <= readers.MAX_TITLE
        assert len(paper.abstract) <= readers.MAX_ABSTRACT
        assert len(paper.authors) <= readers.MAX_AUTHORS
        for url in (paper.abs_url, paper.pdf_url):
            assert url == "" or url.startswith(("http://", "https://"))
        assert paper.key


def parse_or_refuse(body: bytes, kind: str | None) -> None:
    try:
        result = readers.parse(body, kind)
    except FeedError as exc:
        assert str(exc)
    else:
        assert_clean(result)


@FUZZ
@given(st.binary(max_size=4000), KINDS)
def test_any_bytes_give_papers_or_a_feed_error(body, kind):
    parse_or_refuse(body, kind)


@FUZZ
@given(
    st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), max_size=5),
    st.sampled_from(["rss", "atom", "arxiv-rss"]),
)
def test_feeds_with_arbitrary_text_normalize_cleanly(entries, shape):
    parse_or_refuse(_document(entries, shape), None)


@FUZZ
@given(st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT), max_size=5))
def test_feeds_with_arbitrary_markup_in_fields_normalize_cleanly(entries):
    # Unescaped: the fields' text goes in as markup (broken tags, entities, CDATA ends).
    parse_or_refuse(_document(entries, "rss", escaped=False), None)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
PAPERISH = st.fixed_dictionaries(
    {
        "paper": st.fixed_dictionaries(
            {},
            optional={
                k: JSON for k in ("id", "title", "summary", "authors", "upvotes", "publishedAt")
            },
        )
    },
    optional={"title": JSON, "upvotes": JSON},
)


@FUZZ
@given(st.lists(JSON | PAPERISH, max_size=6))
def test_hugging_face_json_of_any_shape_is_read_or_refused(items):
    parse_or_refuse(json.dumps(items).encode(), "hf-daily")


@FUZZ
@given(TEXT)
def test_clean_text_is_one_line_of_visible_text_within_the_limit(value):
    # Not idempotent on purpose: "&lt;b&gt;" is the text "<b>", which is what we store.
    cleaned = readers.clean_text(value, 200)
    assert not INVISIBLE.search(cleaned) and len(cleaned) <= 200
    assert cleaned == " ".join(cleaned.split())


def _document(entries, shape: str, *, escaped: bool = True) -> bytes:
    def x(text: str) -> str:
        text = "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))
        return escape(text) if escaped else text

    if shape == "atom":
        body = "".join(
            f'<entry><title>{x(t)}</title><id>{x(link)}</id><link href="{x(link)}"/>'
            f"<summary>{x(s)}</summary><author><name>{x(a)}</name></author></entry>"
            for t, s, a, link in entries
        )
        return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>{body}</feed>'.encode()
    if shape == "arxiv-rss":
        body = "".join(
            f"<item><title>{x(t)}</title><link>https://arxiv.org/abs/2401.{n:05d}</link>"
            f"<description>arXiv:2401.{n:05d}v1 Announce Type: new Abstract: {x(s)}</description>"
            f"<dc:creator>{x(a)}</dc:creator></item>"
            for n, (t, s, a, _) in enumerate(entries)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">'
            f"<channel><title>arXiv announce</title>{body}</channel></rss>"
        ).encode()
    body = "".join(
        f"<item><title>{x(t)}</title><link>{x(link)}</link><description>{x(s)}</description>"
        f"<author>{x(a)}</author></item>"
        for t, s, a, link in entries
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title>'
    return f"{head}{body}</channel></rss>".encode()
