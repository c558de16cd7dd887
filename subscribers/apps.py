from __future__ import annotations

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"
    default_auto_field = "django.db.models.BigAutoField"
