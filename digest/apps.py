from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from digest.matching.embeddings import Embedder


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = "Papers and digests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from digest.matching.recent import RecentIndex

        # Previews and search share one index per process, built on first use; it lives as
        # long as the app does, so it is kept here.
        self.recent_index = RecentIndex()
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()

    def embedder(self) -> Embedder:
        """The process's embedding model, loaded on first use (vectors.embedder())."""
        from digest.matching.vectors import load_embedder

        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder()
            return self._embedder
