from __future__ import annotations

import pytest

from digest.ingest.identifiers import (
    ArxivRef,
    canonical_key,
    find_arxiv_id,
    find_doi,
    normalize_url,
    parse_arxiv_id,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("https://arxiv.org/abs/2403.01234", ArxivRef("2403.01234", 0), id="abs"),
        pytest.param(
            "http://arxiv.org/abs/2403.01234v3", ArxivRef("2403.01234", 3), id="abs-version"
        ),
        pytest.param("https://arxiv.org/pdf/2403.01234v2.pdf", ArxivRef("2403.01234", 2), id="pdf"),
        pytest.param(
            "http://export.arxiv.org/abs/2308.06954", ArxivRef("2308.06954", 0), id="export"
        ),
        pytest.param("oai:arXiv.org:2308.06954v2", ArxivRef("2308.06954", 2), id="oai-guid"),
        pytest.param("arXiv:1706.03762v7", ArxivRef("1706.03762", 7), id="arxiv-prefix"),
        pytest.param(
            "https://huggingface.co/papers/2403.05530", ArxivRef("2403.05530", 0), id="hf"
        ),
        pytest.param(
            "https://doi.org/10.48550/arXiv.2403.01234", ArxivRef("2403.01234", 0), id="arxiv-doi"
        ),
        pytest.param(
            "https://arxiv.org/abs/hep-th/9901001v1", ArxivRef("hep-th/9901001", 1), id="old-style"
        ),
        pytest.param(
            "https://arxiv.org/abs/math.GT/0309136",
            ArxivRef("math.GT/0309136", 0),
            id="old-subject",
        ),
    ],
)
def test_find_arxiv_id(text, expected):
    assert find_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://blog.example.com/2403.01234",  # an id-shaped number outside arXiv is not an id
        "https://arxiv.org/list/cs.LG/new",
        "",
    ],
)
def test_find_arxiv_id_ignores_lookalikes(text):
    assert find_arxiv_id(text) is None


def test_parse_arxiv_id_reads_bare_ids_only():
    assert parse_arxiv_id("2403.05530") == ArxivRef("2403.05530", 0)
    assert parse_arxiv_id(" 2403.05530v2 ") == ArxivRef("2403.05530", 2)
    assert parse_arxiv_id("see 2403.05530") is None
    assert parse_arxiv_id("not-an-id") is None


def test_find_doi_lowercases_and_trims_punctuation():
    assert find_doi("https://doi.org/10.1145/3580305.3599342.") == "10.1145/3580305.3599342"
    assert find_doi("doi:10.5555/JMLR.2024.0001") == "10.5555/jmlr.2024.0001"
    assert find_doi("https://example.org/post") == ""


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.Example.org/papers/42/", "http://example.org/papers/42"),
        ("https://example.org/p?id=3&utm_source=rss", "https://example.org/p?id=3"),
        ("https://example.org/p#abstract", "https://example.org/p"),
        ("https://example.org:443/p?b=2&a=1", "https://example.org/p?a=1&b=2"),
    ],
)
def test_normalize_url_treats_equivalent_links_as_one(a, b):
    assert normalize_url(a) == normalize_url(b)


def test_canonical_key_prefers_the_strongest_identity():
    ref = ArxivRef("2403.01234", 2)
    assert canonical_key(arxiv=ref, doi="10.1/x", url="https://a.org/x") == "arxiv:2403.01234"
    assert canonical_key(doi="10.1/X", url="https://a.org/x") == "doi:10.1/x"
    assert canonical_key(url="https://a.org/x/") == "url:a.org/x"
    assert canonical_key(url="javascript:alert(1)", guid="tag:a,2024:7") == "guid:tag:a,2024:7"
    assert canonical_key(title="  Attention Is  All You Need ") == canonical_key(
        title="attention is all you need"
    )


def test_canonical_key_stays_within_the_column():
    key = canonical_key(url="https://example.org/" + "x" * 2000)
    assert len(key) <= 300
    assert key != canonical_key(url="https://example.org/" + "x" * 1999)


@pytest.mark.parametrize(
    "text",
    [
        "https://notarxiv.org/abs/2401.01234",
        "https://evil-arxiv.org/abs/2401.01234",
        "https://arxiv.org/abs/2401.012345",  # one digit too many: not 2401.01234
    ],
)
def test_lookalike_hosts_and_longer_numbers_are_not_arxiv_ids(text):
    assert find_arxiv_id(text) is None


def test_subdomains_of_arxiv_still_count():
    assert find_arxiv_id("http://export.arxiv.org/abs/2401.01234v2") == ArxivRef("2401.01234", 2)


def test_an_old_style_id_with_an_endless_archive_name_is_not_an_id():
    assert parse_arxiv_id("a" * 60 + "/1234567") is None
    assert parse_arxiv_id("cond-mat/0102536") == ArxivRef("cond-mat/0102536", 0)
