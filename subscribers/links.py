"""Absolute URLs for emails: every link carries a signed token for its purpose."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from digest.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import make_token, make_view_token


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber: Subscriber) -> str:
    return _url("confirm", make_token(subscriber, "confirm"))


def manage_url(subscriber: Subscriber) -> str:
    return _url("manage", make_token(subscriber, "manage"))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _url("unsubscribe", make_token(subscriber, "unsubscribe"))


def view_url(delivery: Delivery) -> str:
    return _url("view_digest", make_view_token(delivery))


def unsubscribe_mailto() -> str:
    """Where the mailto: half of List-Unsubscribe goes (an inbox operators read)."""
    return settings.UNSUBSCRIBE_MAILTO or _address(settings.DEFAULT_FROM_EMAIL)


def _url(name: str, token: str) -> str:
    """reverse(name, args=[token]), made absolute. A digest has three such links, so the
    path around the token is worked out once per name (tokens need no quoting: they are
    URL-safe base64 and colons)."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    head, tail = _path_around_token(name, urlconf, get_script_prefix())
    return absolute(f"{head}{token}{tail}")


_TOKEN_SLOT = "TOKEN-SLOT"


@lru_cache(maxsize=64)
def _path_around_token(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    head, tail = reverse(name, urlconf=urlconf, args=[_TOKEN_SLOT]).split(_TOKEN_SLOT)
    return head, tail


@lru_cache(maxsize=8)
def _address(value: str) -> str:
    return parseaddr(value)[1]
