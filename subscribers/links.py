"""Absolute URLs for emails: every link carries a signed token for its purpose."""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.urls import reverse

from digest.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import make_token, make_view_token


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber: Subscriber) -> str:
    return absolute(reverse("confirm", args=[make_token(subscriber, "confirm")]))


def manage_url(subscriber: Subscriber) -> str:
    return absolute(reverse("manage", args=[make_token(subscriber, "manage")]))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute(reverse("unsubscribe", args=[make_token(subscriber, "unsubscribe")]))


def view_url(delivery: Delivery) -> str:
    return absolute(reverse("view_digest", args=[make_view_token(delivery)]))


def unsubscribe_mailto() -> str:
    """Where the mailto: half of List-Unsubscribe goes (an inbox operators read)."""
    return settings.UNSUBSCRIBE_MAILTO or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
