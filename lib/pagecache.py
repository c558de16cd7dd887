"""Whole-page caching for pages that carry a CSRF-protected form.

The page is rendered once, without the request (so no session, user or messages can leak into
the shared copy), with a placeholder where the form's CSRF token goes; each response swaps in
the visitor's own token. The placeholder is random per rendering and kept beside the page: a
fixed one could be written into feed text (a title, a link) to have every visitor's token
filled in there too. Cached pages cost about as much as a constant response.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string


def cached_page(
    request: HttpRequest,
    template: str,
    *,
    key: str,
    timeout: int,
    context: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """Serve `template` from the cache under `key`, building `context()` only on a miss."""
    cached = cache.get(key)
    if cached is None:
        cached = _render_shared(template, context())
        cache.set(key, cached, timeout)
    placeholder, html = cached
    response = HttpResponse(html.replace(placeholder, get_token(request)))
    response["Cache-Control"] = "private, no-cache"  # the token is per visitor
    return response


def _render_shared(template: str, context: dict[str, Any]) -> tuple[str, str]:
    placeholder = f"csrf-{secrets.token_hex(16)}"
    shared = {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        **context,
        "csrf_token": placeholder,
    }
    return placeholder, render_to_string(template, shared)
