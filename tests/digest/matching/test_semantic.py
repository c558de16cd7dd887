"""Scoring by keywords and meaning: the blend, the guardrails, the share, the "why".

Vectors here are chosen by hand (unit vectors along a few axes), so every cosine is known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from digest.matching.index import PaperText, build_index
from digest.matching.query import parse_query
from digest.matching.semantic import (
    THRESHOLD,
    WEIGHT,
    MeaningIndex,
    guardrails,
    make_profile,
)

DIM = 4


def axis(i: int, lean: float = 0.0, towards: int = 3) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    v[towards] += lean
    return v / np.linalg.norm(v)


PAPERS = [
    PaperText(0, "Federated learning with secure aggregation", "clients train together"),
    PaperText(1, "Privacy-preserving collaborative training: a survey", "hospitals share models"),
    PaperText(
        2,
        "Decentralised training across institutions",
        "no raw data leaves a site",
        categories=("cs.CR",),
    ),
    PaperText(3, "Galaxy rotation curves", "dark matter halos", categories=("astro-ph.GA",)),
    PaperText(4, "Pruning transformers", "fewer weights", categories=("cs.LG",)),
    PaperText(
        5, "Gradient compression for distributed training", "fewer bytes", categories=("cs.LG",)
    ),
]
# Papers 0, 1, 2 and 5 mean nearly the same (axis 0); 3 and 4 are elsewhere.
VECTORS = np.stack([axis(0), axis(0, 0.1), axis(0, 0.2), axis(1), axis(2), axis(0, 0.6)])


@pytest.fixture
def meaning() -> MeaningIndex:
    return MeaningIndex(build_index(PAPERS), VECTORS, model_name="test")


def profile_near(*papers: int):
    return make_profile([(PAPERS[p].title, VECTORS[p], 0.0) for p in papers])


def chosen(meaning: MeaningIndex, keywords: str, profile, limit: int = 10) -> list[int]:
    query = parse_query(keywords, filters=True)
    return [s.paper for s in meaning.select(query, profile, limit)]


def test_without_a_profile_the_keyword_path_is_unchanged(meaning):
    for keywords in ("training", "federated OR pruning", "training -survey", "category:cs.LG"):
        query = parse_query(keywords)
        expected = meaning.index.select(query.topics, 3)
        # The shortcut, and the whole-array path with a profile that matches nothing.
        for got in (
            meaning.select(query, None, 3),
            meaning.select_many([query], np.zeros((1, DIM)), 3).row(0),
        ):
            assert [(round(s, 5), p) for s, p in expected] == [
                (round(s.score, 5), s.paper) for s in got
            ]


def test_a_profile_brings_papers_that_share_no_words(meaning):
    # Nothing in paper 2 says "federated"; its meaning is the seed's.
    assert chosen(meaning, "", profile_near(0)) == [0, 1, 2, 5]


def test_meaning_adds_a_bonus_to_keyword_matches(meaning):
    query = parse_query("training")
    plain = {s.paper: s.score for s in meaning.select(query, None, 10)}
    blended = {s.paper: s.score for s in meaning.select(query, profile_near(0), 10)}
    cosine = float(profile_near(0).vector @ VECTORS[5])
    assert blended[5] == pytest.approx(plain[5] + WEIGHT * (cosine - THRESHOLD), abs=1e-4)


def test_an_excluded_word_never_comes_back_by_meaning(meaning):
    # Paper 1 is the closest in meaning to the seed, and says "survey".
    got = chosen(meaning, "pruning -survey", profile_near(1))
    assert 1 not in got and 2 in got
    assert 1 not in chosen(meaning, "-survey", profile_near(1))  # a filter line


def test_a_filter_line_also_keeps_keyword_matches_out(meaning):
    got = chosen(meaning, "training\n-survey", None)
    assert set(got) == {0, 2, 5}, "1 says survey (0 says train: stemmed, it is training)"


def test_an_author_or_title_scope_restricts_meaning_too(meaning):
    # A reader who asks only for "title:pruning" gets no paper by meaning without it there.
    assert chosen(meaning, "title:pruning", profile_near(0)) == [4]
    assert chosen(meaning, "title:pruning\nfederated", profile_near(0))[:1] == [0]


def test_one_paper_with_keywords_has_no_room_for_meaning(meaning):
    assert chosen(meaning, "galaxy", profile_near(0), limit=1) == [3]


def test_categories_restrict_meaning_when_every_topic_has_one(meaning):
    got = chosen(meaning, "category:cs.LG pruning", profile_near(0))
    assert set(got) == {4, 5}, "only cs.LG papers may come by meaning (5 does)"
    # One topic with no category lets meaning look everywhere.
    assert 2 in chosen(meaning, "category:cs.LG pruning\ngalaxy", profile_near(0))


def test_meaning_only_papers_fill_at_most_half_a_digest_with_keywords(meaning):
    got = meaning.select(parse_query("pruning"), profile_near(0), 4)
    by_meaning = [s for s in got if s.paper != 4]
    assert len(by_meaning) == 2 and 4 in [s.paper for s in got]


def test_without_keywords_meaning_fills_the_digest(meaning):
    assert len(chosen(meaning, "", profile_near(0), limit=3)) == 3


def test_a_paper_without_a_vector_is_still_matched_by_keywords():
    vectors = VECTORS.copy()
    vectors[4] = 0  # not embedded yet
    meaning = MeaningIndex(build_index(PAPERS), vectors)
    assert 4 in chosen(meaning, "pruning", profile_near(0))


def test_the_why_names_the_closest_seed_with_its_cosine(meaning):
    profile = make_profile([(PAPERS[0].title, VECTORS[0], 0.0), (PAPERS[3].title, VECTORS[3], 0.0)])
    query = parse_query("", filters=True)
    scored = next(s for s in meaning.select(query, profile, 10) if s.paper == 2)
    match = meaning.explain(query, profile, scored)
    cosine = float(VECTORS[0] @ VECTORS[2])
    assert match.because() == f"similar to “{PAPERS[0].title}” ({cosine:.2f})"
    assert match.topics == () and not match.stems, "no words to highlight by meaning alone"
    assert match.similarity > 0 and match.keyword == 0


def test_the_why_names_the_interest(meaning):
    profile = make_profile([], ("training without sharing data", VECTORS[0]))
    query = parse_query("", filters=True)
    scored = meaning.select(query, profile, 1)[0]
    assert (
        meaning.explain(query, profile, scored)
        .because()
        .startswith("close to your interest “training without sharing data” (1.00)")
    )


def test_keyword_matches_explain_their_words_and_their_meaning(meaning):
    query = parse_query("federated")
    profile = profile_near(0)
    scored = meaning.select(query, profile, 1)[0]
    match = meaning.explain(query, profile, scored)
    assert match.topics == ("federated",) and match.stems == {"feder"}
    assert match.because().startswith("similar to")
    parts = match.keyword + match.similarity + match.trending + match.recency
    assert match.score == pytest.approx(parts, abs=0.01)


def test_recent_seeds_weigh_more():
    old, new = axis(0), axis(1)
    profile = make_profile([("old", old, 730.0), ("new", new, 0.0)])
    assert float(profile.vector @ new) > float(profile.vector @ old)


def test_no_seeds_and_no_interest_is_no_profile():
    assert make_profile([]) is None
    assert make_profile([("x", np.zeros(DIM), 0.0)], ("  ", axis(0))) is None


def test_guardrails_collect_exclusions_from_every_topic_and_filter():
    rails = guardrails(parse_query("a -b\nc -title:d\n-e", filters=True))
    assert sorted(t.text for t in rails.excluded) == ["b", "d", "e"]
    assert rails.scopes == ()


def test_many_readers_at_once_get_what_each_would_alone(meaning):
    cases = [("", profile_near(0)), ("pruning", profile_near(1)), ("galaxy -dark", profile_near(3))]
    cases += [("training\n-survey", profile_near(5)), ("category:cs.LG pruning", profile_near(2))]
    queries = [parse_query(k, filters=True) for k, _ in cases]
    together = meaning.select_many(
        queries, np.stack([p.vector for _, p in cases]), 3, known=[p.known for _, p in cases]
    )
    assert len(together) == len(cases)
    for r, (query, (_, profile)) in enumerate(zip(queries, cases, strict=True)):
        alone = meaning.select(query, profile, 3)
        assert [(s.paper, round(s.score, 4)) for s in together.row(r)] == [
            (s.paper, round(s.score, 4)) for s in alone
        ]


def test_a_reader_whose_seeds_are_every_paper_gets_nothing_back():
    meaning = MeaningIndex(build_index(PAPERS), VECTORS)
    profile = make_profile([(p.title, VECTORS[p.id], 0.0) for p in PAPERS])
    profile = dataclasses.replace(profile, known=frozenset(p.id for p in PAPERS))
    assert meaning.select(parse_query("training", filters=True), profile, 5) == []
