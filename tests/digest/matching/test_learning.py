"""Learning from "more like this" / "less like this": the Rocchio profile, the reader's own
model, the guardrails they never override, and the "why" and words they explain.

Vectors are chosen by hand (as in test_semantic.py), so every cosine is known."""

from __future__ import annotations

import numpy as np
import pytest

from digest.matching import learning
from digest.matching.index import PaperText, build_index
from digest.matching.query import parse_query
from digest.matching.semantic import MeaningIndex, features, make_profile

DIM = 4


def axis(i: int, lean: float = 0.0, towards: int = 3) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    v[towards] += lean
    return v / np.linalg.norm(v)


PAPERS = [
    PaperText(0, "Federated learning with secure aggregation", "clients train together"),
    PaperText(1, "Federated learning for hospitals", "diffusion of models across sites"),
    PaperText(2, "Federated fairness across clients", "equal accuracy for every client"),
    PaperText(3, "Federated training of diffusion models", "image generation across sites"),
    PaperText(4, "Galaxy rotation curves", "dark matter halos"),
    PaperText(5, "Federated fairness audits", "who loses accuracy"),
]
# 0, 1 and 3 are about the same thing (axis 0); 2 and 5 are about fairness (axis 1).
VECTORS = np.stack([axis(0), axis(0, 0.1), axis(1), axis(0, 0.2), axis(2), axis(1, 0.1)])


@pytest.fixture
def meaning() -> MeaningIndex:
    return MeaningIndex(build_index(PAPERS), VECTORS, model_name="test")


def chosen(meaning: MeaningIndex, keywords: str, profile, limit: int = 10) -> list[int]:
    query = parse_query(keywords, filters=True)
    return [s.paper for s in meaning.select(query, profile, limit)]


def test_rocchio_moves_toward_liked_and_away_from_disliked_papers():
    base = axis(0)
    moved = learning.rocchio(base, [axis(1)], [axis(2)])
    assert moved is not None
    assert np.isclose(np.linalg.norm(moved), 1.0, atol=1e-6)
    assert moved @ axis(1) > base @ axis(1)
    assert moved @ axis(2) < 0 < moved @ axis(0)
    assert learning.rocchio(None, [], []) is None


def test_without_ratings_the_profile_is_the_one_it_was():
    base = make_profile([(PAPERS[0].title, VECTORS[0], 0.0)])
    assert learning.personal(base, [], []) is base


def test_removing_a_rating_restores_the_profile_exactly():
    """The profile is made from what it was made of and the ratings that stand, so an undo
    (or a removal from the interest card) gives back the vector there was before."""
    base = make_profile([(PAPERS[0].title, VECTORS[0], 0.0)])
    liked = [(PAPERS[2].title, VECTORS[2])]
    before = learning.personal(base, liked, [])
    after_dislike = learning.personal(base, liked, [(4, VECTORS[4])])
    undone = learning.personal(base, liked, [])
    assert not np.allclose(before.vector, after_dislike.vector)
    assert np.array_equal(before.vector, undone.vector)
    assert undone.known == before.known


def test_less_like_this_sinks_similar_papers_even_when_keywords_match(meaning):
    keywords_only = chosen(meaning, "federated", None)
    assert keywords_only[:1] == [0]
    disliked = learning.personal(None, [], [(2, VECTORS[2])])
    ranked = chosen(meaning, "federated", disliked)
    assert 2 not in ranked  # a paper they disliked never comes back
    # Its neighbour, which the keywords match, sinks out of the digest: their ratings
    # score it below zero.
    assert 5 in keywords_only and 5 not in ranked
    assert set(ranked) >= {0, 1, 3}


def test_more_like_this_brings_similar_papers_by_meaning(meaning):
    assert 4 not in chosen(meaning, "fairness", None)
    liked = learning.personal(None, [("Galaxy paper", axis(2, 0.2))], [])
    assert 4 in chosen(meaning, "fairness", liked)


def test_an_excluded_word_never_returns_after_more_like_this(meaning):
    """The reader excluded "diffusion", then liked a paper that has it: papers like it come,
    but none with the word."""
    liked = learning.personal(
        None, [(PAPERS[3].title, VECTORS[3]), (PAPERS[1].title, VECTORS[1])], []
    )
    ranked = chosen(meaning, "fairness -diffusion", liked)
    assert 0 in ranked  # like what they liked, and allowed
    assert not {1, 3} & set(ranked)
    model = _model_liking(0)
    ranked = chosen(meaning, "fairness -diffusion", model)
    assert not {1, 3} & set(ranked)


def test_a_scoped_topic_keeps_meaning_inside_its_scope(meaning):
    liked = learning.personal(None, [("Galaxies", axis(2))], [])
    assert 4 not in chosen(meaning, "title:fairness", liked)


def _model_liking(*papers: int):
    """A reader's own model, fitted on liking these papers and disliking the others."""
    x = features(VECTORS, np.ones(len(VECTORS)), np.zeros(len(VECTORS)), np.ones(len(VECTORS)))
    y = np.array([1 if i in papers else 0 for i in range(len(VECTORS))])
    model = learning.fit(x, y, np.ones(len(VECTORS)))
    liked = [(PAPERS[i].title, VECTORS[i]) for i in papers]
    return learning.personal(None, liked, [], model)


def test_the_fitted_model_separates_what_the_reader_likes():
    x = features(VECTORS, np.zeros(6), np.zeros(6), np.ones(6))
    y = np.array([1, 1, 0, 1, 0, 0])
    model = learning.fit(x, y, np.ones(6))
    logits = x @ model
    assert min(logits[[0, 1, 3]]) > max(logits[[2, 4, 5]])
    assert model.shape == (DIM + 4,)


def test_ignored_papers_weigh_less_than_dislikes():
    x = features(VECTORS[:3], np.zeros(3), np.zeros(3), np.ones(3))
    y = np.array([1, 0, 0])
    light = x @ learning.fit(x, y, np.array([1.0, 1.0, learning.IGNORED_WEIGHT]))
    heavy = x @ learning.fit(x, y, np.ones(3))
    assert light[2] > heavy[2]  # an ignored paper is a weaker "not this" than a dislike


def test_a_readers_model_ranks_their_digest(meaning):
    profile = _model_liking(2, 5)
    ranked = chosen(meaning, "federated", profile)
    assert ranked[:2] == [2, 5] or ranked[:2] == [5, 2]
    scored = meaning.select(parse_query("federated"), profile, 10)
    match = meaning.explain(parse_query("federated"), profile, scored[0])
    assert match.like_kind == "liked"


def test_the_why_names_the_liked_paper_or_counts_similar_ones(meaning):
    one = learning.personal(None, [(PAPERS[2].title, VECTORS[2])], [])
    query = parse_query("accuracy")
    top = meaning.select(query, one, 1)[0]
    why = meaning.explain(query, one, top).because()
    assert why.startswith("like “Federated fairness across clients” (")
    three = learning.personal(None, [(f"paper {i}", axis(1, 0.05 * i)) for i in range(3)], [])
    top = meaning.select(query, three, 1)[0]
    assert meaning.explain(query, three, top).because() == (
        "you marked 3 similar papers “more like this”"
    )


def test_enough_ratings_for_a_model_of_ones_own():
    assert not learning.ready(4, 3)
    assert not learning.ready(5, 2)
    assert learning.ready(5, 3)


def test_top_words_lean_toward_the_papers_scored_up():
    texts = [
        "federated learning secure aggregation",
        "federated learning hospitals",
        "galaxy rotation curves",
        "galaxy halos dark matter",
    ]
    words = learning.top_words(texts, [2.0, 1.5, -1.0, -2.0])
    assert words.up[:1] == ("federated",)
    assert "galaxy" in words.down
    assert learning.top_words([], []) == learning.Words((), ())


def test_a_reader_who_named_nothing_gets_the_most_upvoted_without_what_they_turned_from(meaning):
    # Rocchio: "less like this" on paper 0 leaves it and the papers like it (1, 3) out.
    disliked = learning.personal(None, [], [(PAPERS[0].id, VECTORS[0])])
    assert sorted(s.paper for s in meaning.select_top(disliked, 10)) == [2, 4, 5]
    # Their own model: what it likes first, then the rest in its order (a full digest).
    model = _model_liking(2, 5)
    top = [s.paper for s in meaning.select_top(model, 10)]
    assert set(top[:2]) == {2, 5} and len(top) == 6
