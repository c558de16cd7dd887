from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.matching.query import (
    MAX_LENGTH,
    MAX_TOPICS,
    QueryError,
    Topic,
    parse_query,
    split_topics,
)
from lib.lru import LRU


def kinds(text: str) -> list[list[list[tuple[str, str]]]]:
    return [
        [[(t.kind, t.field) for t in clause] for clause in topic.required]
        for topic in parse_query(text).topics
    ]


def test_topics_split_on_lines_and_commas_outside_quotes():
    assert split_topics('federated learning, pruning\n"mixture, of experts"\n\n , ') == [
        "federated learning",
        "pruning",
        '"mixture, of experts"',
    ]


def test_a_topic_is_clauses_of_alternatives():
    assert kinds('coreset OR "data selection" pruning') == [
        [[("word", "any"), ("phrase", "any")], [("word", "any")]],
    ]


def test_scopes_and_prefixes():
    assert kinds('title:prun* author:"Yann LeCun" category:cs.LG abstract:sparse') == [
        [
            [("prefix", "title")],
            [("phrase", "author")],
            [("category", "category")],
            [("word", "abstract")],
        ],
    ]


def test_hyphenated_words_are_phrases():
    assert kinds("few-shot") == [[[("phrase", "any")]]]


def test_identical_topics_are_kept_once():
    assert len(parse_query("Pruning\npruning, PRUNING").topics) == 1


def test_topic_key_ignores_case_and_inflection_but_not_meaning():
    a, b, c = (
        parse_query(q).topics[0].key
        for q in ("Pruned Networks", "pruning network", "pruning -network")
    )
    assert a == b != c


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "Enter at least one topic", id="empty"),
        pytest.param(" ,\n ,", "Enter at least one topic", id="only-separators"),
        pytest.param('"mixture of experts', "unmatched quote", id="unbalanced-quote"),
        pytest.param("fairness -", "lone “-”", id="lone-minus"),
        pytest.param("-federated", "only excludes", id="only-excludes"),
        pytest.param('-"federated learning"', "only excludes", id="only-excludes-phrase"),
        pytest.param("coreset OR", "OR needs a term on each side", id="or-at-end"),
        pytest.param("OR coreset", "OR needs a term on each side", id="or-at-start"),
        pytest.param("a OR OR b", "OR needs a term on each side", id="double-or"),
        pytest.param("a -b OR c", "cannot join an exclusion", id="or-after-exclusion"),
        pytest.param("a OR -b", "cannot join an exclusion", id="or-before-exclusion"),
        pytest.param("foo:bar", "not a field we know", id="unknown-field"),
        pytest.param("title:", "needs a word or phrase", id="empty-scope"),
        pytest.param('""', "Empty quotes", id="empty-quotes"),
        pytest.param("???", "no letters or digits", id="punctuation-only"),
        pytest.param("g*", "too short", id="short-prefix"),
        pytest.param("self-super*", "works on one word", id="multiword-prefix"),
        pytest.param(" ".join(f"w{i}" for i in range(13)), "too many terms", id="too-many-terms"),
        pytest.param('"a b c d e f g h i"', "up to 8 words", id="long-phrase"),
        pytest.param("x" * (MAX_LENGTH + 1), "under 2,000 characters", id="too-long"),
        pytest.param(
            "\n".join(f"topic{i}" for i in range(MAX_TOPICS + 1)),
            "Up to 25 topics",
            id="too-many-topics",
        ),
    ],
)
def test_unusable_queries_explain_themselves(text, message):
    with pytest.raises(QueryError) as raised:
        parse_query(text)
    assert message in raised.value.message


def test_urls_are_searched_as_words_not_fields():
    assert kinds("https://github.com/x") == [[[("phrase", "any")]]]


QUERY_ALPHABET = st.sampled_from(
    [
        "pruning",
        "federated",
        "OR",
        "-",
        '"',
        "*",
        "title:",
        "author:",
        "category:",
        "cs.LG",
        ",",
        "\n",
        " ",
        "foo:",
        "é",
        "C++",
        "(",
        ")",
        "-x",
        "gr*",
        "\x00",
        "\u202e",
    ]
)


@given(st.lists(QUERY_ALPHABET, max_size=30).map("".join) | st.text(max_size=300))
def test_parsing_never_fails_with_anything_but_a_query_error(text):
    try:
        query = parse_query(text)
    except QueryError as exc:
        assert exc.message
    else:
        assert query.topics
        assert all(topic.required for topic in query.topics)


def test_a_topic_memo_gives_back_the_topics_it_parsed_and_keeps_no_errors():
    memo: LRU[str, Topic] = LRU(10)

    first = parse_query("pruning\nfederated learning", memo)
    again = parse_query("federated learning, pruning", memo)

    assert {id(t) for t in first.topics} == {id(t) for t in again.topics}
    assert first == parse_query("pruning\nfederated learning")
    for _ in range(2):
        with pytest.raises(QueryError):
            parse_query("pruning, fairness -", memo)
    assert len(memo) == 2


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("title:global -federated", "global"),
        ("fair*", "fair…"),
        ('"mixture of experts"', "mixture of experts"),
        ('coreset OR "data selection"', "coreset or data selection"),
        ("category:cs.LG pruning", "pruning"),
        ("category:cs.LG", "cs.LG"),
        ('author:"Yann LeCun"', "Yann LeCun"),
        ("élagage", "élagage"),
        ('pruning -"neural nets"', "pruning"),
    ],
)
def test_a_topic_in_plain_words_for_a_subject_line(typed, plain):
    from digest.matching.query import plain_words

    assert plain_words(typed) == plain
