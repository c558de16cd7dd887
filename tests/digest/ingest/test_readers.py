from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from digest.ingest import readers
from digest.ingest.readers import FeedError, PaperData, detect_kind, merge_papers, parse
from tests.support.feedgen import arxiv_rss, load_papers, synthetic_papers

RSS_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Lab</title>'
    b"<link>https://lab.example.org/</link><description>papers</description>"
)
RSS_TAIL = b"</channel></rss>"


def rss(*items: bytes, head: bytes = RSS_HEAD) -> bytes:
    return head + b"".join(items) + RSS_TAIL


def item(
    title: str = "A paper",
    link: str = "https://lab.example.org/p/1",
    description: str = "An abstract.",
    extra: str = "",
) -> bytes:
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>{description}</description>{extra}</item>"
    ).encode()


def read(data_dir, name: str) -> bytes:
    return (data_dir / "feeds" / name).read_bytes()


# --- each real format -------------------------------------------------------------------------


def test_arxiv_rss_yields_ids_versions_announce_types_and_authors(data_dir):
    result = parse(read(data_dir, "arxiv-rss.xml"), "arxiv-rss")
    assert len(result.papers) == 12
    assert not result.rejected and not result.warnings
    first = result.papers[0]
    seed = load_papers()[0]
    assert first.key == f"arxiv:{seed['arxiv_id']}"
    assert first.title == seed["title"]
    assert first.abstract.startswith("Image retrieval systems conventionally")
    assert "Announce Type" not in first.abstract
    assert first.authors == tuple(seed["authors"])
    assert first.categories == ("cs.CV", "cs.LG")
    assert first.pdf_url == f"https://arxiv.org/pdf/{seed['arxiv_id']}"
    assert first.published_at == datetime(2024, 3, 11, tzinfo=UTC)
    assert {p.announce_type for p in result.papers} == {"new", "cross", "replace"}


def test_arxiv_api_atom_yields_primary_category_first_and_pdf_link(data_dir):
    result = parse(read(data_dir, "arxiv-api.xml"), "arxiv-api")
    assert len(result.papers) == 8
    paper = result.papers[0]
    seed = load_papers()[10]
    assert paper.arxiv_id == seed["arxiv_id"]
    assert paper.version == seed["version"]
    assert paper.categories[0] == seed["categories"][0]
    assert paper.authors == tuple(seed["authors"])
    assert paper.abstract == seed["abstract"]


def test_hf_daily_json_yields_upvotes(data_dir):
    result = parse(read(data_dir, "hf-daily.json"), "hf-daily")
    assert len(result.papers) == 6
    seed = load_papers()[8]
    assert result.papers[0].upvotes == seed["upvotes"]
    assert result.papers[0].key == f"arxiv:{seed['arxiv_id']}"
    assert result.papers[0].published_at is not None


def test_generic_rss_uses_doi_links_as_identity(data_dir):
    result = parse(read(data_dir, "generic-rss.xml"), "feed")
    assert [p.key for p in result.papers][:2] == [
        "doi:10.5555/jmlr.2024.0000",
        "doi:10.5555/jmlr.2024.0001",
    ]
    assert result.papers[0].authors == tuple(load_papers()[40]["authors"])


def test_generic_atom_recognises_arxiv_pdf_links(data_dir):
    result = parse(read(data_dir, "generic-atom.xml"), "feed")
    seed = load_papers()
    assert result.papers[1].key == f"arxiv:{seed[1]['arxiv_id']}"
    assert result.papers[0].key.startswith("url:lab.example.org/posts/")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("arxiv-rss.xml", "arxiv-rss"),
        ("arxiv-api.xml", "arxiv-api"),
        ("hf-daily.json", "hf-daily"),
        ("generic-rss.xml", "feed"),
        ("generic-atom.xml", "feed"),
    ],
)
def test_detect_kind(data_dir, name, kind):
    assert detect_kind(read(data_dir, name)) == kind


# --- bad input ----------------------------------------------------------------------------------


def test_truncated_xml_keeps_what_parsed_and_says_so(data_dir):
    body = read(data_dir, "arxiv-rss.xml")
    third_item = body.index(b"<item>", body.index(b"<item>", body.index(b"<item>") + 1) + 1)
    result = parse(body[: third_item + 200], "arxiv-rss")  # cut inside the third item's link
    assert [bool(p.abstract) for p in result.papers] == [True, True, False]
    assert "malformed" in result.warnings[0]
    assert "kept the 3 entries" in result.warnings[0]


def test_latin1_declared_feed_decodes_accents():
    head = RSS_HEAD.replace(b"UTF-8", b"ISO-8859-1")
    result = parse(
        rss(
            item(title="R\xe9seaux de neurones", description="caf\xe9")
            .decode("latin-1")
            .encode("latin-1"),
            head=head,
        )
    )
    assert result.papers[0].title == "Réseaux de neurones"
    assert result.papers[0].abstract == "café"


def test_wrong_encoding_declaration_still_yields_the_papers():
    body = rss(item(title="Na\xefve Bayes").decode("latin-1").encode("cp1252"))  # declared UTF-8
    result = parse(body, "feed")
    assert len(result.papers) == 1
    assert result.papers[0].title.startswith("Na")


def test_utf8_bom_is_ignored():
    result = parse(b"\xef\xbb\xbf" + rss(item(title="Bommed")))
    assert result.papers[0].title == "Bommed"


def test_html_and_scripts_in_titles_become_plain_text():
    hostile = item(
        title="&lt;script&gt;alert('x')&lt;/script&gt;Robust &lt;b&gt;Pruning&lt;/b&gt;"
        " &amp;amp; more",
        description="&lt;img src=x onerror=alert(1)&gt;Sparse &lt;i&gt;nets&lt;/i&gt;"
        "\u202e\u200b ok",
    )
    paper = parse(rss(hostile), "feed").papers[0]
    assert paper.title == "Robust Pruning & more"
    assert paper.abstract == "Sparse nets ok"


def test_javascript_links_are_not_kept():
    paper = parse(
        rss(item(link="javascript:alert(1)", extra="<guid>tag:lab,2024:1</guid>"))
    ).papers[0]
    assert paper.abs_url == ""
    assert paper.key == "guid:tag:lab,2024:1"


def test_entries_without_title_are_rejected_with_a_reason_and_others_kept():
    body = rss(item(title=""), item(title="Kept", link="https://lab.example.org/p/2"))
    result = parse(body, "feed")
    assert [p.title for p in result.papers] == ["Kept"]
    assert [str(r) for r in result.rejected] == ["entry 1: no title"]


def test_missing_link_and_date_still_make_a_paper():
    body = rss(b"<item><title>Only a title</title><description>text</description></item>")
    paper = parse(body, "feed").papers[0]
    assert paper.key.startswith("title:")
    assert paper.published_at is None


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "yesterday-ish",
        "Sat, 01 Jan 1972 00:00:00 GMT",
    ],
)
def test_absurd_dates_are_dropped(date):
    paper = parse(rss(item(extra=f"<pubDate>{date}</pubDate>")), "feed").papers[0]
    assert paper.published_at is None


def test_empty_feed_is_not_an_error():
    result = parse(rss(), "feed")
    assert result.papers == () and result.rejected == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<!DOCTYPE html><html><head><title>Oops</title></head><body>Not here</body></html>",
            "HTML web page",
        ),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a recognised feed"),
        (b'[{"paper": ', "invalid JSON"),
        (b'{"error": "rate limited"}', "expected a list"),
        (b"\xff\xfe[\x00]\x00", "not a recognised feed"),
    ],
)
def test_documents_that_are_not_feeds_raise_a_clear_error(body, message):
    with pytest.raises(FeedError, match=message):
        parse(body)


def test_html_page_given_as_feed_kind_says_so():
    with pytest.raises(FeedError, match="HTML web page"):
        parse(b"<html><body><p>Just a <b>page</b></body></html>", "feed")


def test_json_where_xml_is_expected_is_refused():
    with pytest.raises(FeedError):
        parse(b'[{"paper": {"id": "2403.01234"}}]', "arxiv-rss")


def test_hf_items_with_bad_ids_or_shapes_are_rejected_individually():
    body = json.dumps(
        [
            {"paper": {"id": "2403.01234", "title": "Good", "summary": "s", "upvotes": 3}},
            {"paper": {"id": "not-arxiv", "title": "Bad id"}},
            "just a string",
            {"paper": {"id": "2403.01235", "title": "", "summary": "no title"}},
            {"paper": {"id": "2403.01236", "title": "Weird upvotes", "upvotes": "lots"}},
        ]
    ).encode()
    result = parse(body, "hf-daily")
    assert [p.title for p in result.papers] == ["Good", "Weird upvotes"]
    assert result.papers[1].upvotes is None
    assert [r.position for r in result.rejected] == [2, 3, 4]


def test_arxiv_api_error_feed_raises_its_message():
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        b"<id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id><title>Error</title>"
        b"<summary>incorrect id format for 1234</summary></entry></feed>"
    )
    with pytest.raises(FeedError, match="arXiv API error: incorrect id format"):
        parse(body, "arxiv-api")


def test_gigantic_fields_are_capped():
    paper = parse(rss(item(title="T" * 50_000, description="word " * 100_000)), "feed").papers[0]
    assert len(paper.title) == readers.MAX_TITLE
    assert len(paper.abstract) <= readers.MAX_ABSTRACT


def test_ten_thousand_entries_parse():
    body = arxiv_rss(synthetic_papers(10_000)).encode()
    result = parse(body, "arxiv-rss")
    assert len(result.papers) == 10_000
    assert len({p.key for p in result.papers}) == 10_000


# --- merging ------------------------------------------------------------------------------------


def test_merge_takes_the_newer_version_and_keeps_what_only_the_old_had():
    old = PaperData(
        key="arxiv:1",
        title="Old",
        abstract="old abstract",
        version=1,
        categories=("cs.LG",),
        published_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    new = PaperData(
        key="arxiv:1",
        title="New",
        abstract="",
        version=2,
        categories=("cs.CV",),
        announce_type="replace",
    )
    merged = merge_papers(old, new)
    assert (merged.title, merged.abstract, merged.version) == ("New", "old abstract", 2)
    assert merged.categories == ("cs.LG", "cs.CV")
    assert merged.published_at == old.published_at
    assert merged.announce_type == "replace"


def test_merge_of_an_older_sighting_only_fills_blanks_and_refreshes_upvotes():
    stored = PaperData(key="arxiv:1", title="Current", abstract="", version=2, upvotes=3)
    hf = PaperData(
        key="arxiv:1",
        title="Stale title",
        abstract="from hf",
        version=0,
        upvotes=40,
        authors=("A. Author",),
    )
    merged = merge_papers(stored, hf)
    assert (merged.title, merged.abstract, merged.upvotes) == ("Current", "from hf", 40)
    assert merged.authors == ("A. Author",)


def test_merge_without_news_is_identity():
    paper = parse(rss(item()), "feed").papers[0]
    assert merge_papers(paper, paper) == paper


def test_it_refuses_an_arxiv_listing_read_as_a_plain_feed(data_dir):
    # Read as "feed", every abstract would start "arXiv:2403.… Announce Type: new Abstract:".
    with pytest.raises(FeedError, match="this is an arXiv RSS listing, not an RSS or Atom feed"):
        parse(read(data_dir, "arxiv-rss.xml"), "feed")


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("hf-daily.json", "arxiv-rss", "this is Hugging Face daily papers JSON"),
        ("arxiv-api.xml", "arxiv-rss", "this is an arXiv API"),
        ("generic-rss.xml", "hf-daily", "this is an RSS or Atom feed"),
    ],
)
def test_it_refuses_a_document_of_another_kind_than_chosen(data_dir, name, kind, message):
    with pytest.raises(FeedError, match=message):
        parse(read(data_dir, name), kind)


def test_an_arxiv_listing_without_announcements_today_still_reads_as_arxiv():
    empty_day = rss(head=RSS_HEAD.replace(b"<title>Lab</title>", b"<title>cs.LG updates</title>"))
    assert parse(empty_day, "arxiv-rss").papers == ()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://rss.arxiv.org/rss/cs.LG+cs.CV", "arxiv-rss"),
        ("https://arxiv.org/rss/cs.LG", "arxiv-rss"),
        ("http://export.arxiv.org/api/query?search_query=cat:cs.LG", "arxiv-api"),
        ("https://huggingface.co/api/daily_papers", "hf-daily"),
        ("https://lab.example.org/feed.xml", None),
        ("https://arxiv.org.evil.example/rss/cs.LG", None),
        ("https://notarxiv.org/rss/cs.LG", None),
    ],
)
def test_well_known_feed_addresses_name_their_kind(url, kind):
    assert readers.kind_from_url(url) == kind


def test_an_arxiv_listing_must_live_on_arxiv_not_on_a_lookalike_domain():
    assert readers.address_problem("arxiv-rss", "https://export.arxiv.org/rss/cs.LG") == ""
    assert "rss.arxiv.org" in readers.address_problem("arxiv-rss", "https://notarxiv.org/x.xml")
