from __future__ import annotations

from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = "Papers and digests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from digest.matching.recent import RecentIndex

        # Previews and search share one index per process, built on first use; it lives as
        # long as the app does, so it is kept here.
        self.recent_index = RecentIndex()
