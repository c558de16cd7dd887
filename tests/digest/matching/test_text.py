from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.matching.text import fold, stem, stem_all, word_spans, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mixture-of-Experts (MoE)", ["mixture", "of", "experts", "moe"]),
        ("Model(LLM) based", ["model", "llm", "based"]),
        ("C++ and C# code", ["c++", "and", "c#", "code"]),
        ("Réseaux de neurones", ["reseaux", "de", "neurones"]),
        ("ﬁne-tuning", ["fine", "tuning"]),
        ("LLMs, GPUs and CNNs", ["llm", "gpu", "and", "cnn"]),
        ("state_of_the_art", ["state", "of", "the", "art"]),
        ("", []),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


@pytest.mark.parametrize(
    ("variants", "same"),
    [
        (["prune", "pruned", "pruning", "prunes"], True),
        (["expert", "experts"], True),
        (["llm", "llms"], True),
        (["relu", "reluctant"], False),
        (["net", "network"], False),
    ],
)
def test_stemming_groups(variants, same):
    stems = {stem(v) for v in variants}
    assert (len(stems) == 1) is same, stems


def test_stem_all_agrees_with_stem():
    vocabulary = ["pruning", "llms", "c++", "experts", "2024", "cnns", "grokking"]
    assert stem_all(vocabulary) == {w: stem(w) for w in vocabulary}


def test_word_spans_point_into_the_original_text():
    text = "Réseaux for LLMs"
    assert [(text[a:b], w) for a, b, w in word_spans(text)] == [
        ("Réseaux", "reseaux"),
        ("for", "for"),
        ("LLMs", "llm"),
    ]


def test_fold_is_case_and_accent_insensitive():
    assert fold("ÉCOLE Straße") == fold("ecole strasse")


@given(st.text())
def test_tokenising_any_text_never_crashes(text):
    for word in words(text):
        assert word and stem(word)
