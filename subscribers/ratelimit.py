"""Cache-backed fixed-window rate limits (Redis in production, so all web workers share them)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

HOUR = 3600


def allow(bucket: str, key: str, limit: int, window: int = HOUR) -> bool:
    """Count one attempt for `key`; False once it has made `limit` attempts in this window."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # no raw addresses or IPs in keys
    cache_key = f"ratelimit:{bucket}:{digest}:{int(time.time() // window)}"
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=window)
        count = 1
    return count <= limit


def client_ip(request: HttpRequest) -> str:
    header = settings.CLIENT_IP_HEADER or "REMOTE_ADDR"
    return request.META.get(header, "").split(",")[0].strip() or "unknown"
