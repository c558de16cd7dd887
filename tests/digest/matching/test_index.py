from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.matching.index import PaperText, build_index, match_papers
from digest.matching.query import QueryError, parse_query
from tests.support import naive
from tests.support.feedgen import load_papers
from tests.support.papers import as_paper_text

SEED_PAPERS = [as_paper_text(i, p) for i, p in enumerate(load_papers())]


def paper(spec: str, pid: int = 0) -> PaperText:
    """ "title || abstract || author; author || cat cat" — any part may be left out."""
    parts = [*spec.split(" || "), "", "", ""][:4]
    title, abstract, authors, categories = parts
    return PaperText(
        id=pid,
        title=title,
        abstract=abstract,
        authors=tuple(a.strip() for a in authors.split(";") if a.strip()),
        categories=tuple(categories.split()),
    )


def matches(query: str, spec: str) -> bool:
    return bool(match_papers(parse_query(query), build_index([paper(spec)]), 10))


RULES = [
    pytest.param(
        "federated learning",
        ["Federated learning at scale", "Learning when data is federated"],
        ["Federated averaging", "Deep learning"],
        id="bare-words-and",
    ),
    pytest.param(
        '"mixture of experts"',
        ["A mixture of experts layer", "Mixture-of-Experts routing"],
        ["Experts in a mixture", "mixture of many experts"],
        id="phrase",
    ),
    pytest.param(
        'coreset OR "data selection"',
        ["Coreset construction", "Data selection for LLMs"],
        ["Selection of data", "Core set"],
        id="or",
    ),
    pytest.param(
        "fairness -federated",
        ["Group fairness in online settings"],
        ["Fairness in federated learning", "Federated fairness"],
        id="exclude-word",
    ),
    pytest.param(
        'fairness -"federated learning"',
        ["Fairness of federated averaging"],
        ["Fairness trade-offs in Federated Learning"],
        id="exclude-phrase",
    ),
    pytest.param(
        "grok*",
        ["Grokking tickets", "We grok it", "Grokked models"],
        ["Agrokinetics", "Understanding generalization"],
        id="prefix",
    ),
    pytest.param(
        "title:pruning",
        ["Channel pruning || about nets"],
        ["Channel selection || we use pruning"],
        id="title-scope",
    ),
    pytest.param(
        "abstract:pruning",
        ["Channel selection || we use pruning"],
        ["Channel pruning || about nets"],
        id="abstract-scope",
    ),
    pytest.param(
        'author:"Yann LeCun"',
        ["Energy models || abstract || Yann LeCun; Ana Silva"],
        [
            "Energy models || Yann LeCun wrote || Ana Silva",
            "Energy models || x || Ana Yann; LeCun Smith",
        ],
        id="author-phrase-within-one-name",
    ),
    pytest.param(
        "author:silva", ["T || a || Ana Silva"], ["Silva || silva || Wei Zhang"], id="author-word"
    ),
    pytest.param(
        "category:cs.LG",
        ["T || a || A. B || cs.LG stat.ML"],
        ["T || cs.LG || A. B || cs.CV"],
        id="category",
    ),
    pytest.param(
        "category:cs.*", ["T || a || A || cs.CV"], ["T || a || A || stat.ML"], id="category-prefix"
    ),
    pytest.param(
        "-category:cs.CV diffusion",
        ["Diffusion || a || A || cs.LG"],
        ["Diffusion || a || A || cs.CV"],
        id="exclude-category",
    ),
    pytest.param("PRUNING", ["pruning nets"], [], id="case-insensitive"),
    pytest.param(
        "pruning", ["We prune", "Pruned networks", "It prunes"], ["Prunus trees"], id="stemming"
    ),
    pytest.param(
        "few-shot",
        ["Few shot learning", "few-shot NAS"],
        ["shot few", "a few good shots"],
        id="hyphen-equals-space",
    ),
    pytest.param("mixture of experts", ["Mixture-of-Experts"], [], id="unquoted-hyphen-words"),
    pytest.param(
        "LLM",
        ["A large language Model(LLM) study", "Evaluating LLMs"],
        ["LLaMA"],
        id="punctuation-splits",
    ),
    pytest.param("reseaux", ["Réseaux de neurones"], [], id="accents-folded"),
    pytest.param("réseaux", ["Reseaux"], [], id="accents-folded-in-query"),
    pytest.param("ReLU", ["ReLU networks"], ["A reluctant learner"], id="word-boundaries"),
    pytest.param("C++", ["Fast C++ kernels"], ["Fast C kernels"], id="c-plus-plus"),
    pytest.param(
        "federated learning\ndiffusion",
        ["Diffusion models", "Federated learning"],
        ["Image models"],
        id="any-topic",
    ),
]


@pytest.mark.parametrize(("query", "should_match", "no_match"), RULES)
def test_matching_rules(query, should_match, no_match):
    for spec in should_match:
        assert matches(query, spec), f"{query!r} should match {spec!r}"
    for spec in no_match:
        assert not matches(query, spec), f"{query!r} should not match {spec!r}"


# --- explanation ----------------------------------------------------------------------------


def test_a_match_says_which_topics_terms_and_fields_matched():
    index = build_index([paper("Federated pruning || we prune clients in federated learning")])
    (match,) = match_papers(parse_query("federated learning\npruning\ndiffusion"), index)
    assert match.topics == ("federated learning", "pruning")
    assert match.matched == "federated learning, pruning"
    assert match.terms == ("federated", "learning", "pruning")
    assert match.fields == ("title", "abstract")
    assert {"feder", "learn", "prune"} <= match.stems


def test_prefix_matches_carry_the_prefix_for_highlighting():
    (match,) = match_papers(parse_query("grok*"), build_index([paper("Grokking tickets")]))
    assert match.prefixes == ("grok",)


# --- ordering -------------------------------------------------------------------------------


def ranked(query: str, specs: list[str], extra: dict[int, dict] | None = None) -> list[int]:
    extra = extra or {}
    papers = [replace(paper(s, i), **extra.get(i, {})) for i, s in enumerate(specs)]
    return [m.paper_id for m in match_papers(parse_query(query), build_index(papers), 10)]


def test_a_title_hit_ranks_above_an_abstract_hit():
    assert ranked("pruning", ["Sparse nets || with pruning", "Pruning nets || sparse"]) == [1, 0]


def test_more_matched_topics_rank_higher():
    specs = ["Pruning || x", "Pruning || diffusion", "Other || diffusion"]
    assert ranked("pruning\ndiffusion", specs)[0] == 1


def test_words_together_rank_above_scattered_words():
    specs = ["Learning when federated", "Federated learning"]
    assert ranked("federated learning", specs) == [1, 0]


def test_a_phrase_hit_outweighs_a_word_hit():
    specs = ["Experts || a mixture of tricks", "Mixture of experts || x"]
    assert ranked('"mixture of experts" OR mixture', specs) == [1, 0]


def test_upvotes_break_ties_between_equally_relevant_papers():
    got = ranked("pruning", ["Pruning A", "Pruning B"], {1: {"upvotes": 50}, 0: {"upvotes": 2}})
    assert got == [1, 0]


def test_recency_breaks_ties_between_equally_relevant_papers():
    now = datetime(2024, 3, 11, tzinfo=UTC)
    extra = {0: {"published": now - timedelta(days=3)}, 1: {"published": now}}
    assert ranked("pruning", ["Pruning A", "Pruning B"], extra) == [1, 0]


def test_relevance_outweighs_trending():
    extra = {0: {"upvotes": 500}, 1: {"upvotes": 0}}
    assert ranked("pruning", ["Sparse || uses pruning", "Pruning"], extra) == [1, 0]


def test_equal_papers_keep_index_order():
    assert ranked("pruning", ["Pruning A", "Pruning B", "Pruning C"]) == [0, 1, 2]


def test_a_digest_holds_at_most_the_subscribers_limit():
    index = build_index(SEED_PAPERS)
    query = parse_query("learning")
    assert len(match_papers(query, index, 3)) == 3
    assert len(match_papers(query, index)) == 10


# --- index vs. the simple way ---------------------------------------------------------------

TERMS = [
    "federated",
    "learning",
    "pruning",
    "global",
    "model",
    "data",
    "diffusion",
    "training",
    '"federated learning"',
    '"mixture of experts"',
    "grok*",
    "fair*",
    "title:pruning",
    "abstract:global",
    "category:cs.LG",
    "category:cs.*",
    "-federated",
    "-title:global",
    'coreset OR "data selection"',
    "LLM OR language",
    "few-shot",
    "author:zhang",
]
QUERIES = st.lists(
    st.lists(st.sampled_from(TERMS), min_size=1, max_size=4).map(" ".join), min_size=1, max_size=5
).map("\n".join)


def indexed_and_naive(text: str, limit: int) -> tuple[list, list]:
    try:
        query = parse_query(text)
    except QueryError:  # only-exclusion topics are invalid; nothing to compare
        return [], []
    index = build_index(SEED_PAPERS)
    prepared = [naive.prepare(p) for p in SEED_PAPERS]
    return index.select(query.topics, limit), naive.naive_select(
        query, prepared, index.quality, limit
    )


@settings(max_examples=300, deadline=None)
@given(QUERIES, st.sampled_from([1, 3, 10, 65]))
def test_the_index_selects_exactly_what_testing_every_paper_selects(text, limit):
    fast, slow = indexed_and_naive(text, limit)
    assert [p for _, p in fast] == [p for _, p in slow], text
    assert [round(s, 6) for s, _ in fast] == [round(s, 6) for s, _ in slow]


def test_the_threshold_merge_agrees_with_full_scoring_on_broad_topics():
    fast, slow = indexed_and_naive("learning\nmodel\ndata\ntraining", 3)  # unions >> 4 * 3
    assert fast == slow


@given(st.text(max_size=200), st.text(max_size=200), st.sampled_from(TERMS))
def test_any_paper_text_can_be_indexed_and_matched(title, abstract, term):
    index = build_index([PaperText(id=1, title=title, abstract=abstract, authors=(title,))])
    for match in match_papers(
        parse_query(f"model {term}" if term.startswith("-") else term), index
    ):
        assert match.paper_id == 1


def test_an_index_parses_each_keywords_once_and_remembers_at_most_its_memo_size():
    index = build_index([paper("Federated pruning")], memo_size=2)

    first = index.query("pruning")
    assert index.query("pruning") is first
    for text in ("federated", "learning", "pruning"):
        index.query(text)
    assert len(index._queries) == 2
    with pytest.raises(QueryError):
        index.query("   ")
