from __future__ import annotations

from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = "Papers and digests"
    default_auto_field = "django.db.models.BigAutoField"
