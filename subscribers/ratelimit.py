"""Cache-backed fixed-window rate limits (Redis in production, so all web workers share them)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

HOUR = 3600
MINUTE = 60
PREVIEW_LIMITED = "You're searching faster than we can keep up. Please wait a minute and try again."


def allow(bucket: str, key: str, limit: int, window: int = HOUR) -> bool:
    """Count one attempt for `key`; False once it has made `limit` attempts in this window."""
    return count_one(bucket, key, window) <= limit


def allow_preview(request: HttpRequest) -> bool:
    """Count one live preview or search (each runs a new query) for this client."""
    return allow("preview", client_ip(request), settings.PREVIEW_LIMIT_PER_MINUTE, MINUTE)


def count_one(bucket: str, key: str, window: int = HOUR) -> int:
    """Count one event for `key` in this window and return how many there have been."""
    cache_key = _cache_key(bucket, key, window)
    cache.add(cache_key, 0, timeout=window)
    try:
        return cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=window)
        return 1


def counted(bucket: str, key: str, window: int = HOUR) -> int:
    """How many events `key` has had in this window, without counting one."""
    return cache.get(_cache_key(bucket, key, window), 0)


def forget(bucket: str, key: str, window: int = HOUR) -> None:
    """Start `key`'s count again (after a correct login, say)."""
    cache.delete(_cache_key(bucket, key, window))


def _cache_key(bucket: str, key: str, window: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # no raw addresses or IPs in keys
    return f"ratelimit:{bucket}:{digest}:{int(time.time() // window)}"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or what the proxy nearest the client put in
    CLIENT_IP_HEADER. Proxies append to X-Forwarded-For, so anything left of the entries our
    TRUSTED_PROXY_COUNT proxies wrote is the client's own say and is ignored."""
    header = settings.CLIENT_IP_HEADER or "REMOTE_ADDR"
    hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
    if not hops:
        return "unknown"
    return hops[-min(settings.TRUSTED_PROXY_COUNT, len(hops))]
