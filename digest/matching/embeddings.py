"""Sentence embeddings of paper texts, run by onnxruntime from a model directory.

The directory (installed by `manage.py install_model`, see model_export.py) holds model.onnx,
tokenizer.json and manifest.json. Nothing here downloads: a worker only reads the directory.
A vector is the mean of the model's last hidden states over the text's tokens, L2-normalised,
so the cosine of two texts is the dot product of their vectors. Vectors are stored as float16.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MANIFEST = "manifest.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
REINSTALL = "run `python manage.py install_model --force`"
STORED = np.dtype("<f2")  # 2 bytes a dimension: 768 bytes a paper for 384 dimensions


class ModelError(Exception):
    """The model is missing, incomplete or not what was pinned; the message says what to do."""


class Embedder:
    """One loaded model (90 MB for MiniLM): build it once per process and reuse it."""

    def __init__(
        self, directory: Path, *, max_tokens: int = 256, batch_size: int = 16, threads: int = 1
    ) -> None:
        manifest = read_manifest(directory)
        self.name: str = model_name(manifest)
        self.dimensions: int = int(manifest["dimensions"])
        self.batch_size = batch_size
        self._tokenizer = load_tokenizer(directory, min(max_tokens, manifest["max_tokens"]))
        self._session = load_session(directory, threads)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._output = hidden_states(self._session)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, in input order; an empty text gives a row of zeros."""
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Batches of similar lengths pad less; characters are a close enough proxy for tokens.
        order = sorted((i for i, t in enumerate(texts) if t.strip()), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._embed_batch([texts[i] for i in rows])
        return vectors

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        arrays = encode(self._tokenizer, texts)
        feed = {name: arrays[name] for name in self._inputs}
        (hidden,) = self._session.run([self._output], feed)
        return mean_pool(hidden, arrays["attention_mask"])


def read_manifest(directory: Path) -> dict:
    """The manifest an installed model directory carries; ModelError when there is none."""
    path = directory / MANIFEST
    if not path.is_file():
        raise ModelError(f"No embedding model at {directory}: run `python manage.py install_model`")
    try:
        manifest = json.loads(path.read_text())
        complete = "model.onnx" in manifest["files"] and all(
            manifest[key] for key in ("name", "dimensions", "max_tokens")
        )
    except (ValueError, KeyError, TypeError):
        complete = False
    if not complete:
        raise ModelError(f"Unreadable {path}: {REINSTALL}")
    return manifest


def model_name(manifest: dict) -> str:
    """The identity of the vectors a model makes: its name and the start of its hash."""
    return f"{manifest['name']}:{manifest['files']['model.onnx'][:12]}"


def load_tokenizer(directory: Path, max_tokens: int) -> Tokenizer:
    """The model's tokenizer, truncating at max_tokens and padding to the longest in a batch."""
    path = directory / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception
        raise ModelError(f"Cannot load {path} ({exc}): {REINSTALL}") from None
    # tokenizer.json may carry its own limits (the packaged one: cut at 128, pad every text
    # to 128), which would silently change the vectors; set ours.
    padding = tokenizer.padding or {}
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(
        pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
    )
    return tokenizer


def load_session(directory: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception kinds
        raise ModelError(f"Cannot load {directory / 'model.onnx'} ({exc}): {REINSTALL}") from None


def hidden_states(session: ort.InferenceSession) -> str:
    """The output to pool: Hub exports may offer pooled outputs too, and we pool ourselves."""
    outputs = [o.name for o in session.get_outputs()]
    return "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]


def encode(tokenizer: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """The model's int64 inputs for one batch, each shaped [batch, longest]."""
    encodings = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The mean of each text's hidden states over its real tokens, scaled to length 1."""
    mask = attention_mask[:, :, None].astype(np.float32)
    means = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return means / np.maximum(norms, 1e-12)


def paper_text(title: str, abstract: str) -> str:
    """The text a paper is embedded from: its title, then its abstract."""
    return "\n".join(part for part in (title.strip(), abstract.strip()) if part)


def pack(vector: np.ndarray) -> bytes:
    """A vector as stored: float16, little-endian."""
    return np.asarray(vector, dtype=STORED).tobytes()


def unpack(data: bytes) -> np.ndarray:
    """A stored vector back as float32."""
    return np.frombuffer(data, dtype=STORED).astype(np.float32)


def unpack_many(blobs: Sequence[bytes | None], dimensions: int) -> np.ndarray:
    """Stored vectors as one (n, dimensions) float32 matrix; None gives a row of zeros."""
    matrix = np.zeros((len(blobs), dimensions), dtype=np.float32)
    for row, blob in enumerate(blobs):
        if blob is not None:
            if len(blob) != dimensions * STORED.itemsize:
                raise ValueError(f"a stored vector of {len(blob)} bytes for {dimensions} dims")
            matrix[row] = unpack(blob)
    return matrix
