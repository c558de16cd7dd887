"""Absolute URLs for a subscriber's emails: every link carries a signed token for its purpose
(a digest's own links are in digest/delivery/links.py)."""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.urls import reverse

from subscribers.models import Subscriber
from subscribers.tokens import Preferences, make_token


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber: Subscriber, preferences: Preferences | None = None) -> str:
    token = make_token(subscriber, "confirm", preferences)
    return absolute(reverse("confirm", args=[token]))


def manage_url(subscriber: Subscriber) -> str:
    return absolute(reverse("manage", args=[make_token(subscriber, "manage")]))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute(reverse("unsubscribe", args=[make_token(subscriber, "unsubscribe")]))


def feed_url(subscriber: Subscriber) -> str:
    """The reader's personal Atom feed of their matches."""
    return absolute(reverse("feed", args=[make_token(subscriber, "feed")]))


def unsubscribe_mailto() -> str:
    """Where the mailto: half of List-Unsubscribe goes (an inbox operators read)."""
    return settings.UNSUBSCRIBE_MAILTO or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
