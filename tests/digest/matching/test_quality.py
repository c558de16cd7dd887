"""The quality floor on the judgment set (bench/quality.py prints the figures): the whole
profile ranks better than keywords alone and than plain cosine of the same model."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from bench.quality import Evaluation
from digest.matching.embeddings import Embedder


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return Evaluation(Embedder(Path(settings.EMBEDDING_MODEL_DIR)))


def test_the_whole_profile_beats_keywords_and_plain_cosine(evaluation):
    whole = evaluation.score(evaluation.whole)
    cosine = evaluation.score(evaluation.cosine)
    keywords = evaluation.score(evaluation.keyword_only)
    assert whole["p_at_5"] >= 0.44 and whole["recall_at_10"] >= 0.72, whole
    assert whole["p_at_5"] > cosine["p_at_5"] and whole["p_at_5"] > keywords["p_at_5"]
    assert whole["recall_at_10"] > cosine["recall_at_10"] > keywords["recall_at_10"]
