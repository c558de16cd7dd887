"""Whole-page caching for pages that carry a CSRF-protected form.

The page is rendered once, without the request (so no session, user or messages can leak into
the shared copy), with a placeholder where the form's CSRF token goes; each response swaps in
the visitor's own token. Cached pages cost about as much as a constant response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string

CSRF_PLACEHOLDER = "__csrf-token-placeholder__"


def cached_page(
    request: HttpRequest,
    template: str,
    *,
    key: str,
    timeout: int,
    context: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """Serve `template` from the cache under `key`, building `context()` only on a miss."""
    html = cache.get(key)
    if html is None:
        shared = {
            "site_name": settings.SITE_NAME,
            "site_url": settings.SITE_URL,
            **context(),
            "csrf_token": CSRF_PLACEHOLDER,
        }
        html = render_to_string(template, shared)
        cache.set(key, html, timeout)
    response = HttpResponse(html.replace(CSRF_PLACEHOLDER, get_token(request)))
    response["Cache-Control"] = "private, no-cache"  # the token is per visitor
    return response
