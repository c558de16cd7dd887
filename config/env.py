"""Strict readers for settings that come from environment variables.

Junk values raise ImproperlyConfigured at start-up instead of silently turning into a
default: `DEBUG=flase` must not mean "on" in production.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """Turn DATABASE_URL into a DATABASES entry; relative SQLite paths live under base_dir."""
    if not url:
        raise ImproperlyConfigured("DATABASE_URL is empty")
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with sqlite:// or postgres://; got {scheme or url!r}"
        )
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://").removeprefix("/")
        if path and not url.startswith("sqlite:////") and path != ":memory:":
            url = f"sqlite:///{base_dir / path}"
    config = dj_database_url.parse(url, conn_max_age=0 if scheme == "sqlite" else 60)
    if scheme != "sqlite":
        config["CONN_HEALTH_CHECKS"] = True
    return config


def anymail_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Collect ANYMAIL_* variables into the ANYMAIL dict (ANYMAIL_POSTMARK_SERVER_TOKEN -> ...)."""
    environ = os.environ if environ is None else environ
    prefix = "ANYMAIL_"
    return {key[len(prefix) :]: value for key, value in environ.items() if key.startswith(prefix)}
