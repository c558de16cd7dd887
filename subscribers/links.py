"""Absolute URLs for emails: every link carries a signed token for its purpose."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from digest.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import Preferences, make_token, make_view_token


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber: Subscriber, preferences: Preferences | None = None) -> str:
    return _url("confirm", make_token(subscriber, "confirm", preferences))


def manage_url(subscriber: Subscriber) -> str:
    return _url("manage", make_token(subscriber, "manage"))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _url("unsubscribe", make_token(subscriber, "unsubscribe"))


def view_url(delivery: Delivery) -> str:
    return _url("view_digest", make_view_token(delivery))


@dataclass(frozen=True)
class EmailLinks:
    manage: str
    unsubscribe: str
    view: str  # "" for an email that is no delivery (a preview, a test)


def email_links(subscriber: Subscriber, delivery: Delivery | None = None) -> EmailLinks:
    """A digest's links, with the URL configuration looked up once for the three (it is
    per thread, and looking it up was a third of making a link)."""
    where = _where()
    view = _url("view_digest", make_view_token(delivery), where) if delivery and delivery.pk else ""
    return EmailLinks(
        manage=_url("manage", make_token(subscriber, "manage"), where),
        unsubscribe=_url("unsubscribe", make_token(subscriber, "unsubscribe"), where),
        view=view,
    )


def unsubscribe_mailto() -> str:
    """Where the mailto: half of List-Unsubscribe goes (an inbox operators read)."""
    return settings.UNSUBSCRIBE_MAILTO or _address(settings.DEFAULT_FROM_EMAIL)


def _url(name: str, token: str, where: tuple[str, str] | None = None) -> str:
    """reverse(name, args=[token]), made absolute. A digest has three such links, so the
    path around the token is worked out once per name (tokens need no quoting: they are
    URL-safe base64 and colons)."""
    head, tail = _path_around_token(name, *(where or _where()))
    return absolute(f"{head}{token}{tail}")


def _where() -> tuple[str, str]:
    """The URL configuration and script prefix that reverse() would use now."""
    return get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()


_TOKEN_SLOT = "TOKEN-SLOT"


@lru_cache(maxsize=64)
def _path_around_token(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    head, tail = reverse(name, urlconf=urlconf, args=[_TOKEN_SLOT]).split(_TOKEN_SLOT)
    return head, tail


@lru_cache(maxsize=8)
def _address(value: str) -> str:
    return parseaddr(value)[1]
