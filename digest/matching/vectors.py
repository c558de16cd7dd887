"""Papers' vectors: embedded once, after ingest, in batches; read back for an edition.

The process's one Embedder is kept by the digest app, loaded on first use: with onnxruntime's
buffers it holds a few hundred MB, so only what embeds loads it (the embedding task, a preview
or profile with an interest text); matching needs only the installed model's name (installed()).

A paper is embedded when it has no vector by the current model: new papers, papers whose title
or abstract changed (ingest and the admin clear the vector), and every paper after the model
changes. A paper without one is still matched by keywords.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.apps import apps
from django.conf import settings
from django.db import transaction

from digest.matching.embeddings import (
    Embedder,
    ModelError,
    model_name,
    pack,
    paper_text,
    read_manifest,
    unpack_many,
)
from digest.matching.index import PaperIndex
from digest.matching.semantic import MEMO_SIZE, MeaningIndex
from digest.models import Paper, PaperQuerySet

log = logging.getLogger(__name__)
BATCH = 64  # papers read, embedded and written together


def embedder() -> Embedder:
    """The process's embedder (ModelError when the model is not installed)."""
    return apps.get_app_config("digest").embedder()


def load_embedder() -> Embedder:
    return Embedder(Path(settings.EMBEDDING_MODEL_DIR), threads=settings.EMBEDDING_THREADS)


def available() -> Embedder | None:
    """The embedder, or None (logged) when no model is installed: matching goes on by
    keywords alone."""
    try:
        return embedder()
    except ModelError as exc:
        log.warning("matching by keywords only: %s", exc)
        return None


@dataclass(frozen=True)
class Installed:
    """The installed model's identity, read from its manifest without loading it (a loaded
    model holds a few hundred MB: a sending worker only needs to know which vectors count)."""

    name: str
    dimensions: int


def installed() -> Installed | None:
    try:
        manifest = read_manifest(Path(settings.EMBEDDING_MODEL_DIR))
    except ModelError as exc:
        log.warning("matching by keywords only: %s", exc)
        return None
    return Installed(model_name(manifest), int(manifest["dimensions"]))


def pending(model: Embedder) -> PaperQuerySet:
    return Paper.objects.visible().exclude(embedded_with=model.name)


def embed_pending(
    model: Embedder, *, limit: int | None = None, progress: Callable[[int], object] | None = None
) -> list[int]:
    """Embed papers that have no vector by this model, newest first; returns their ids.
    Each batch's rows stay locked while they are embedded, so two runs at once (two ingests
    finishing together) share the work instead of doing it twice."""
    done: list[int] = []
    while limit is None or len(done) < limit:
        size = BATCH if limit is None else min(BATCH, limit - len(done))
        with transaction.atomic():
            rows = list(
                pending(model)
                .select_for_update(skip_locked=True)
                .order_by("-first_seen_at", "-id")
                .values_list("pk", "title", "abstract", "updated_at")[:size]
            )
            if not rows:
                break
            done += embed_rows(model, rows)
        if progress:
            progress(len(rows))
    return done


def embed_rows(model: Embedder, rows: Sequence[tuple]) -> list[int]:
    """Embed (pk, title, abstract, updated_at) rows; returns the ids written. A paper changed
    meanwhile is left for the next run (its vector would describe the old text)."""
    vectors = model.embed([paper_text(title, abstract) for _, title, abstract, _ in rows])
    written = []
    for (pk, _, _, updated_at), vector in zip(rows, vectors, strict=True):
        if Paper.objects.filter(pk=pk, updated_at=updated_at).update(
            embedding=pack(vector), embedded_with=model.name
        ):
            written.append(pk)
    return written


def paper_vectors(papers: Sequence[Paper], model_name: str, dimensions: int) -> np.ndarray:
    """The papers' vectors by this model, in order (zero rows where there is none)."""
    blobs = [
        bytes(p.embedding) if p.embedding is not None and p.embedded_with == model_name else None
        for p in papers
    ]
    return unpack_many(blobs, dimensions)


def meaning_index(
    index: PaperIndex, papers: Sequence[Paper], memo_size: int = MEMO_SIZE
) -> MeaningIndex:
    """The meaning index over these papers (in the keyword index's order) with their vectors
    by the installed model; with none installed, every paper is as if not embedded yet."""
    model = installed()
    if model is None:
        return MeaningIndex(index, np.zeros((len(papers), 1), dtype=np.float32))
    matrix = paper_vectors(papers, model.name, model.dimensions)
    return MeaningIndex(index, matrix, model_name=model.name, memo_size=memo_size)
