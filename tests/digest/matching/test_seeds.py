from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.matching.seeds import (
    MAX_LIBRARY_BYTES,
    MAX_LIBRARY_ENTRIES,
    MAX_PROBLEMS,
    MAX_SEEDS,
    NOT_A_LIBRARY,
    SeedError,
    SeedList,
    SeedRef,
    parse_library,
    parse_seed_text,
)

LIBRARIES = Path(__file__).resolve().parents[2] / "data" / "libraries"


def read(name: str) -> SeedList:
    return parse_library((LIBRARIES / name).read_bytes(), name)


def ids(seeds: SeedList) -> list[tuple[str, str]]:
    return [(ref.arxiv_id, ref.doi) for ref in seeds.refs]


def bibtex(text: str) -> SeedList:
    return parse_library(text.encode())


def not_an_id(line: int, token: str) -> str:
    return f'Line {line}: "{token}" is not an arXiv id, arXiv link or DOI.'


# --- typed text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "arxiv_id", "doi"),
    [
        pytest.param("2401.01234", "2401.01234", "", id="new-style"),
        pytest.param("2401.01234v2", "2401.01234", "", id="new-style-version"),
        pytest.param("0704.0001", "0704.0001", "", id="four-digit-number"),
        pytest.param("hep-th/9901001", "hep-th/9901001", "", id="old-style"),
        pytest.param("math.GT/0309136v2", "math.GT/0309136", "", id="old-style-subject-class"),
        pytest.param("arXiv:2401.01234", "2401.01234", "", id="arxiv-prefix"),
        pytest.param("arXiv: 2401.01234", "2401.01234", "", id="arxiv-prefix-space"),
        pytest.param("https://arxiv.org/abs/2401.01234", "2401.01234", "", id="abs-link"),
        pytest.param("http://arxiv.org/abs/2401.01234v3", "2401.01234", "", id="http-version"),
        pytest.param("arxiv.org/abs/2401.01234", "2401.01234", "", id="no-scheme"),
        pytest.param("www.arxiv.org/abs/2401.01234", "2401.01234", "", id="www-no-scheme"),
        pytest.param("https://arxiv.org/pdf/2401.01234v2.pdf", "2401.01234", "", id="pdf-link"),
        pytest.param("https://arxiv.org/pdf/2401.01234", "2401.01234", "", id="pdf-no-suffix"),
        pytest.param(
            "http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001", "", id="export"
        ),
        pytest.param("https://arxiv.org/html/2401.01234v1/", "2401.01234", "", id="html-link"),
        pytest.param("https://arxiv.org/abs/2401.01234?context=cs", "2401.01234", "", id="query"),
        pytest.param("<https://arxiv.org/abs/2401.01234>", "2401.01234", "", id="angle-brackets"),
        pytest.param("(2401.01234).", "2401.01234", "", id="parentheses-full-stop"),
        pytest.param("https://huggingface.co/papers/2401.01234", "2401.01234", "", id="hf-papers"),
        pytest.param("10.1145/3292500.3330701", "", "10.1145/3292500.3330701", id="doi"),
        pytest.param("doi:10.1109/CVPR.2016.90", "", "10.1109/cvpr.2016.90", id="doi-prefix"),
        pytest.param("DOI: 10.1109/CVPR.2016.90", "", "10.1109/cvpr.2016.90", id="doi-space"),
        pytest.param(
            "https://doi.org/10.1038/s41586-021-03819-2",
            "",
            "10.1038/s41586-021-03819-2",
            id="doi-org",
        ),
        pytest.param(
            "http://dx.doi.org/10.1023/A:1026654312961", "", "10.1023/a:1026654312961", id="dx-doi"
        ),
        pytest.param(
            "https://doi.org/10.1002/%28SICI%291097-4571",
            "",
            "10.1002/(sici)1097-4571",
            id="escaped",
        ),
        pytest.param(
            "https://dl.acm.org/doi/10.1145/3292500.3330701",
            "",
            "10.1145/3292500.3330701",
            id="publisher-page",
        ),
        pytest.param("10.48550/arXiv.2401.01234", "2401.01234", "", id="arxiv-doi"),
        pytest.param(
            "https://doi.org/10.48550/arXiv.2401.01234v2", "2401.01234", "", id="arxiv-doi-link"
        ),
    ],
)
def test_it_reads_each_way_of_naming_a_paper(token, arxiv_id, doi):
    seeds = parse_seed_text(token)
    assert ids(seeds) == [(arxiv_id, doi)], token
    assert seeds.problems == [], token


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("foo", id="word"),
        pytest.param("2401.012345", id="too-many-digits"),
        pytest.param("https://arxiv.org/abs/2401.012345", id="link-to-a-bad-id"),
        pytest.param("https://notarxiv.org/abs/2401.01234", id="lookalike-host"),
        pytest.param("https://arxiv.org/list/cs.LG/recent", id="listing"),
        pytest.param("https://arxiv.org/html/2401.01234v1/figure1.png", id="figure"),
        pytest.param("https://example.com/paper", id="other-link"),
        pytest.param("10.1145", id="doi-without-suffix"),
        pytest.param("doi:", id="doi-prefix-alone"),
        pytest.param("http://[::1", id="malformed-link"),
    ],
)
def test_it_names_what_it_cannot_read(token):
    assert parse_seed_text(token) == SeedList(refs=[], problems=[not_an_id(1, token)])


def test_it_reads_a_pasted_list_in_order_each_paper_once():
    text = (
        "2401.01234, hep-th/9901001; arXiv:2401.01234v2\n"
        "\n"
        "  not-a-paper\thttps://doi.org/10.1145/3292500.3330701\r\n"
        "10.1145/3292500.3330701.\n"
    )
    assert parse_seed_text(text) == SeedList(
        refs=[
            SeedRef(arxiv_id="2401.01234", label="2401.01234"),
            SeedRef(arxiv_id="hep-th/9901001", label="hep-th/9901001"),
            SeedRef(doi="10.1145/3292500.3330701", label="https://doi.org/10.1145/3292500.3330701"),
        ],
        problems=[not_an_id(3, "not-a-paper")],
    )


def test_an_arxiv_doi_and_its_arxiv_id_are_one_paper():
    seeds = parse_seed_text("https://doi.org/10.48550/arXiv.2401.01234 arxiv.org/abs/2401.01234v3")
    assert seeds.refs == [
        SeedRef(arxiv_id="2401.01234", label="https://doi.org/10.48550/arXiv.2401.01234")
    ]


def test_it_keeps_the_first_max_seeds_and_counts_the_rest_unread():
    numbers = [f"2401.{n:05d}" for n in range(MAX_SEEDS + 10)]
    seeds = parse_seed_text("\n".join([*numbers, "nonsense"]))
    assert [ref.arxiv_id for ref in seeds.refs] == numbers[:MAX_SEEDS]
    assert seeds.truncated == 11
    assert seeds.problems == []


def test_problem_lines_stop_at_max_problems_with_a_count():
    seeds = parse_seed_text(" ".join(f"word{n}" for n in range(MAX_PROBLEMS + 5)))
    assert seeds.problems == [
        *(not_an_id(1, f"word{n}") for n in range(MAX_PROBLEMS)),
        "And 5 more we could not use.",
    ]


def test_a_long_token_is_shortened_in_its_problem_line():
    seeds = parse_seed_text("x" * 500)
    assert seeds.problems == [not_an_id(1, "x" * 59 + "…")]


def test_empty_text_gives_nothing():
    assert parse_seed_text(" \n , ;\n") == SeedList(refs=[], problems=[])


@given(st.text())
def test_any_text_gives_refs_with_an_id(text):
    seeds = parse_seed_text(text)
    assert all(ref.arxiv_id or ref.doi for ref in seeds.refs)
    assert len(seeds.refs) <= MAX_SEEDS


FRAGMENTS = ["2401.01234", "hep-th/9901001", "arXiv:", "doi:", "10.", "1145", "/", "v2", ".pdf"]
FRAGMENTS += ["https://", "arxiv.org/abs/", "doi.org/", "[", "%28", ":", " ", ",", "\n", "x"]


@given(st.lists(st.sampled_from(FRAGMENTS)).map("".join))
def test_near_misses_give_refs_with_an_id(text):
    seeds = parse_seed_text(text)
    assert all(ref.arxiv_id or ref.doi for ref in seeds.refs)


# --- library files ----------------------------------------------------------------------------


def test_it_reads_a_hand_kept_bibtex_file_newest_first():
    assert read("papers.bib") == SeedList(
        refs=[
            SeedRef(
                arxiv_id="2001.08361",
                title="Scaling Laws for Neural Language Models",
                label="kaplan2020scaling",
            ),
            SeedRef(
                arxiv_id="2005.14165",
                title="Language models are few-shot learners",
                label="brown2020language",
            ),
            SeedRef(
                doi="10.18653/v1/n19-1423",
                title="BERT: Pre-training of Deep Bidirectional Transformers for Language "
                "Understanding",
                label="devlin2019bert",
            ),
            SeedRef(
                arxiv_id="1706.03762",
                title="Attention is All you Need",
                label="vaswani2017attention",
            ),
            SeedRef(
                title="Learning with Kernels: Support Vector Machines, Regularization, "
                "Optimization, and Beyond",
                label="scholkopf2002learning",
            ),
            SeedRef(
                arxiv_id="hep-th/9711200",
                doi="10.1023/a:1026654312961",
                title="The Large N limit of superconformal field theories and supergravity",
                label="maldacena1999large",
            ),
            SeedRef(
                doi="10.1007/bf01700692",
                title="Über formal unentscheidbare Sätze der Principia Mathematica und "
                "verwandter Systeme I",
                label="goedel1931",
            ),
        ],
        problems=[
            "Line 42: entry broken2019 is not valid BibTeX and was skipped.",
            "Entry reading-list has no arXiv id, DOI or title.",
        ],
    )


def test_it_reads_a_zotero_bibtex_export_most_recently_added_first():
    assert read("zotero.bib") == SeedList(
        refs=[
            SeedRef(
                title="Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks",
                label="lewis_retrieval-augmented_2020",
            ),
            SeedRef(
                doi="10.1038/s41586-021-03819-2",
                title="Highly accurate protein structure prediction with AlphaFold",
                label="jumper_highly_2021",
            ),
            SeedRef(
                arxiv_id="1706.03762",
                title="Attention Is All You Need",
                label="vaswani_attention_2023",
            ),
            SeedRef(
                arxiv_id="2203.02155",
                title="Training language models to follow instructions with human feedback",
                label="ouyang_training_2022",
            ),
        ],
        problems=[],
    )


def test_it_reads_a_zotero_csl_json_export():
    items = "http://zotero.org/users/local/kQ3mV8xP/items"
    assert read("zotero.json") == SeedList(
        refs=[
            SeedRef(
                arxiv_id="1706.03762",
                title="Attention Is All You Need",
                label=f"{items}/8XK2M3QZ",
            ),
            SeedRef(
                doi="10.1038/s41586-021-03819-2",
                title="Highly accurate protein structure prediction with AlphaFold",
                label=f"{items}/ZP4M8W2K",
            ),
            SeedRef(
                arxiv_id="2001.08361",
                title="Scaling Laws for Neural Language Models",
                label=f"{items}/W7RB2N4C",
            ),
            SeedRef(title="Deep Learning", label=f"{items}/C4TX9LQE"),
        ],
        problems=[f"Entry {items}/N2FJ6HDA has no arXiv id, DOI or title."],
    )


def test_it_reads_a_zotero_ris_export():
    assert read("zotero.ris") == SeedList(
        refs=[
            SeedRef(arxiv_id="1706.03762", title="Attention Is All You Need"),
            SeedRef(
                doi="10.1038/s41586-021-03819-2",
                title="Highly accurate protein structure prediction with AlphaFold",
            ),
        ],
        problems=["Entry 3 has no arXiv id, DOI or title."],
    )


def test_it_reads_a_latin1_file():
    assert read("latin1.bib") == SeedList(
        refs=[
            SeedRef(
                doi="10.1137/16m1080173",
                title="Optimization Methods for Large-Scale Machine Learning",
                label="bottou2018",
            ),
            SeedRef(title="Modèles connexionnistes de l'apprentissage", label="lecun1987"),
        ],
        problems=[],
    )


def test_a_text_file_is_not_a_library():
    with pytest.raises(SeedError) as caught:
        read("not-bibtex.txt")
    assert caught.value.message == NOT_A_LIBRARY


def test_the_filename_does_not_decide_the_format():
    data = (LIBRARIES / "zotero.json").read_bytes()
    assert parse_library(data, "library.bib") == read("zotero.json")


@pytest.mark.parametrize(
    ("fields", "arxiv_id", "doi"),
    [
        pytest.param(
            "eprint = {2401.01234}, archivePrefix = {arXiv}", "2401.01234", "", id="eprint"
        ),
        pytest.param(
            "eprint = {2401.01234v3}, eprinttype = {arxiv}", "2401.01234", "", id="biblatex"
        ),
        pytest.param("eprint = {arXiv:2401.01234}", "2401.01234", "", id="eprint-prefixed"),
        pytest.param("EPRINT = {2401.01234}, ArchivePrefix = {arXiv}", "2401.01234", "", id="case"),
        pytest.param("eprint = {12345678}, eprinttype = {pubmed}", "", "", id="pubmed-eprint"),
        pytest.param("arxivid = {2401.01234}", "2401.01234", "", id="mendeley"),
        pytest.param("journal = {arXiv preprint arXiv:2401.01234}", "2401.01234", "", id="scholar"),
        pytest.param("url = {https://arxiv.org/abs/2401.01234v2}", "2401.01234", "", id="url"),
        pytest.param(
            r"howpublished = {\url{http://arxiv.org/pdf/2401.01234}}", "2401.01234", "", id="misc"
        ),
        pytest.param("note = {arXiv:2401.01234 [cs.LG]}", "2401.01234", "", id="zotero-note"),
        pytest.param("number = {arXiv:2401.01234}", "2401.01234", "", id="zotero-number"),
        pytest.param("doi = {10.48550/arXiv.2401.01234}", "2401.01234", "", id="arxiv-doi"),
        pytest.param("DOI = {10.1145/3292500.3330701}", "", "10.1145/3292500.3330701", id="doi"),
        pytest.param(
            "doi = {{10.1145/3292500.3330701}}", "", "10.1145/3292500.3330701", id="doi-braced"
        ),
        pytest.param(
            "doi = {https://doi.org/10.1145/3292500.3330701}",
            "",
            "10.1145/3292500.3330701",
            id="doi-url",
        ),
        pytest.param(
            "url = {https://dl.acm.org/doi/10.1145/3292500.3330701}",
            "",
            "10.1145/3292500.3330701",
            id="url-doi",
        ),
        pytest.param(
            "eprint = {2401.01234}, doi = {10.1145/3292500.3330701}",
            "2401.01234",
            "10.1145/3292500.3330701",
            id="both",
        ),
        pytest.param(
            "file = {PDF:/Users/ada/Zotero/storage/2401.01234.pdf:application/pdf}",
            "",
            "",
            id="file",
        ),
    ],
)
def test_it_finds_ids_where_exporters_put_them(fields, arxiv_id, doi):
    seeds = bibtex(f"@article{{k, title = {{A title}}, {fields}}}")
    assert ids(seeds) == [(arxiv_id, doi)], fields


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        pytest.param(r"Stra{\ss}e", "Straße", id="eszett"),
        pytest.param(r"Caf\'e {\"o}l", "Café öl", id="accents"),
        pytest.param(r"{\L}ukasz na {\"U}ber", "Łukasz na Über", id="braced-accents"),
        pytest.param(r"{{BERT}}: {Pre}-training", "BERT: Pre-training", id="braces"),
        pytest.param(r"\emph{Deep} \textbf{learning}", "Deep learning", id="macros"),
        pytest.param(r"Sorting in $O(n \log n)$", r"Sorting in $O(n \log n)$", id="math-kept"),
        pytest.param("Broken over\n       two lines", "Broken over two lines", id="whitespace"),
        pytest.param(r"\relax", r"\relax", id="decodes-to-nothing"),
        pytest.param("{" * 400 + "Deep" + "}" * 400, "Deep", id="deeply-nested"),
    ],
)
def test_titles_are_plain_text(latex, text):
    seeds = bibtex(f"@article{{k, title = {{{latex}}}}}")
    assert [ref.title for ref in seeds.refs] == [text]


def test_entries_come_newest_first_and_undated_ones_keep_their_order():
    seeds = bibtex(
        """
        @misc{undated-1, title = {First undated}}
        @misc{old, title = {Old}, year = 1999}
        @misc{aug, title = {August}, year = 2021, month = aug}
        @misc{sep, title = {September}, year = {2021}, month = {9}}
        @misc{biblatex, title = {BibLaTeX date}, date = {2021-08-15}}
        @misc{undated-2, title = {Second undated}}
        @misc{added, title = {Added}, year = 1990, timestamp = {2024-05-01 09:00:00}}
        @misc{added-later, title = {Added later}, year = 1980, timestamp = {2024-05-01 17:30}}
        """
    )
    assert [ref.label for ref in seeds.refs] == [
        "added-later",
        "added",
        "sep",
        "biblatex",
        "aug",
        "old",
        "undated-1",
        "undated-2",
    ]


def test_csl_items_are_dated_by_date_added_then_issued():
    seeds = parse_library(
        b"""[
        {"id": "a", "title": "Issued 2020", "issued": {"date-parts": [[2020, 5]]}},
        {"id": "b", "title": "Issued raw", "issued": {"raw": "2021-02-03"}},
        {"id": "c", "title": "Added", "dateAdded": "2024-01-05T10:22:13Z"},
        {"id": "d", "title": "Undated"}
        ]"""
    )
    assert [ref.label for ref in seeds.refs] == ["c", "b", "a", "d"]


def test_a_single_csl_item_is_a_library():
    seeds = parse_library(b'{"id": "x", "type": "article", "DOI": "10.1145/3292500.3330701"}')
    assert seeds.refs == [SeedRef(doi="10.1145/3292500.3330701", label="x")]


def test_csl_values_of_the_wrong_type_are_ignored():
    seeds = parse_library(
        b'[{"id": 7, "title": {"x": 1}, "DOI": ["10.1/x"], "issued": {"date-parts": [[]]}}, 3]'
    )
    assert seeds == SeedList(
        refs=[],
        problems=["Entry 2 is not a CSL JSON item.", "Entry 7 has no arXiv id, DOI or title."],
    )


def test_a_duplicate_key_keeps_both_entries():
    seeds = bibtex(
        "@article{same, title = {One}, doi = {10.1000/one}}\n"
        '@article{same, title = "{Two}", eprint = {2401.01234}, year = 2020}\n'
    )
    assert seeds == SeedList(
        refs=[
            SeedRef(arxiv_id="2401.01234", title="Two", label="same"),
            SeedRef(doi="10.1000/one", title="One", label="same"),
        ],
        problems=[],
    )


def test_entries_with_the_same_id_or_title_are_kept_once():
    seeds = bibtex(
        """
        @article{a, title = {Attention Is All You Need}, eprint = {1706.03762}}
        @misc{b, title = {Attention is all you need}, url = {https://arxiv.org/abs/1706.03762}}
        @book{c, title = {Learning with {K}ernels}}
        @book{d, title = {Learning  with Kernels}}
        """
    )
    assert [ref.label for ref in seeds.refs] == ["a", "c"]


def test_a_large_library_keeps_its_newest_max_seeds_quickly():
    added = datetime(2020, 1, 1)
    entries = [
        f"""@article{{paper{n:04d},
  title = {{On the {{Convergence}} of Sch{{\\"o}}n Methods, Part {n}}},
  author = {{M{{\\"u}}ller, Hans and Smith, Jane and Doe, John}},
  journal = {{Journal of Machine Learning Research}},
  year = {{{2000 + n % 25}}},
  eprint = {{2001.{n:05d}}}, archivePrefix = {{arXiv}},
  abstract = {{{"We study stochastic methods under weak assumptions. " * 8}}},
  file = {{Full Text PDF:/home/ada/Zotero/storage/X{n}/paper.pdf:application/pdf}},
  timestamp = {{{added + timedelta(minutes=n):%Y-%m-%d %H:%M:%S}}},
}}
"""
        for n in range(5_000)
    ]
    data = "\n".join(entries).encode()
    assert len(data) < MAX_LIBRARY_BYTES
    started = time.perf_counter()
    seeds = parse_library(data, "My Library.bib")
    elapsed = time.perf_counter() - started
    assert [ref.label for ref in seeds.refs] == [f"paper{n:04d}" for n in range(4999, 4949, -1)]
    assert seeds.refs[0] == SeedRef(
        arxiv_id="2001.04999",
        title="On the Convergence of Schön Methods, Part 4999",
        label="paper4999",
    )
    assert seeds.truncated == 5_000 - MAX_SEEDS
    assert seeds.problems == []
    assert elapsed < 5, f"{elapsed:.2f} s for 5,000 entries"  # about 0.7 s


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "This file is empty.", id="empty"),
        pytest.param(b"  \n\t\r\n", "This file is empty.", id="blank"),
        pytest.param(b"\xef\xbb\xbf\n", "This file is empty.", id="only-a-bom"),
        pytest.param(b"@comment{nothing here}", "This file has no entries.", id="comments-only"),
        pytest.param(b"[]", "This file has no entries.", id="empty-csl"),
        pytest.param(b'{"name": "not a reference"}', NOT_A_LIBRARY, id="other-json"),
        pytest.param(b"[1, 2, 3]", NOT_A_LIBRARY, id="json-numbers"),
        pytest.param(
            b'[{"title": "cut off',
            "This file looks like CSL JSON, but it is not valid JSON.",
            id="broken-json",
        ),
        pytest.param(
            b"[" * 1_000_000,
            "This file looks like CSL JSON, but it is not valid JSON.",
            id="nested-json",
        ),
        pytest.param(b"%PDF-1.7\n\x00\x01\xff\xfe", NOT_A_LIBRARY, id="pdf"),
        pytest.param(
            b" " * (MAX_LIBRARY_BYTES + 1),
            "This file is larger than 5 MB; export fewer papers, such as one collection.",
            id="too-big",
        ),
        pytest.param(
            b"@a{" * (MAX_LIBRARY_ENTRIES + 1),
            "This file has more than 20,000 entries; export fewer papers, such as one collection.",
            id="too-many-entries",
        ),
        pytest.param(
            b"[" + b"{}," * MAX_LIBRARY_ENTRIES + b"{}]",
            "This file has more than 20,000 entries; export fewer papers, such as one collection.",
            id="too-many-items",
        ),
    ],
)
def test_files_it_cannot_use_raise_a_seed_error(data, message):
    with pytest.raises(SeedError) as caught:
        parse_library(data)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("data", "title"),
    [
        pytest.param("\ufeff@misc{k, title = {Café}}".encode(), "Café", id="utf-8-bom"),
        pytest.param(b"@misc{k, title = {It\x92s here}}", "It\u2019s here", id="cp1252"),
        pytest.param(b"@misc{k, title = {\x81\x8d}}", "\x81\x8d", id="undefined-in-cp1252"),
        pytest.param("@misc{k, title = {Café}}".encode("utf-16"), "Café", id="utf-16"),
        pytest.param(b"@misc{k\x00, title = {A\x00B}}\x00", "AB", id="nul-bytes"),
    ],
)
def test_any_encoding_is_read(data, title):
    assert parse_library(data).refs == [SeedRef(title=title, label="k")]


def test_a_field_of_nearly_five_megabytes_is_read():
    data = b"@misc{k, doi = {10.1000/x}, abstract = {" + b"x" * (MAX_LIBRARY_BYTES - 100) + b"}}"
    assert parse_library(data).refs == [SeedRef(doi="10.1000/x", label="k")]


def test_a_runaway_title_is_cut():
    seeds = bibtex("@misc{k, title = {" + "word " * 200_000 + "}}")
    assert len(seeds.refs[0].title) < 1_000


def test_braces_that_never_close_spoil_only_their_entry():
    seeds = bibtex("@misc{k, title = {" + "{" * 200_000 + "\n@misc{j, doi = {10.1000/j}}")
    assert seeds == SeedList(
        refs=[SeedRef(doi="10.1000/j", label="j")],
        problems=["Line 1: entry k is not valid BibTeX and was skipped."],
    )


def test_many_broken_entries_are_summed_up():
    seeds = bibtex("@misc{k, title = {\n" * (MAX_PROBLEMS + 5))
    assert seeds.problems == [
        *(f"Line {n}: entry k is not valid BibTeX and was skipped." for n in range(1, 21)),
        "And 5 more we could not use.",
    ]


@given(st.binary(max_size=2_000))
def test_any_bytes_give_refs_or_a_seed_error(data):
    try:
        seeds = parse_library(data)
    except SeedError as exc:
        assert exc.message
    else:
        assert all(ref.arxiv_id or ref.doi or ref.title for ref in seeds.refs)


@given(st.text(alphabet='@{}()"\\=,#%$~ aUo1.:/\n', max_size=300))
def test_any_bibtex_ish_text_gives_refs_or_a_seed_error(text):
    try:
        seeds = bibtex("@article{k, title = {" + text)
    except SeedError as exc:
        assert exc.message
    else:
        assert all(ref.arxiv_id or ref.doi or ref.title for ref in seeds.refs)
