"""Absolute URLs for emails: every link carries a signed token for its purpose."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.urls import reverse

from digest.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import Preferences, make_token, make_view_token


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber: Subscriber, preferences: Preferences | None = None) -> str:
    token = make_token(subscriber, "confirm", preferences)
    return absolute(reverse("confirm", args=[token]))


def manage_url(subscriber: Subscriber) -> str:
    return absolute(reverse("manage", args=[make_token(subscriber, "manage")]))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute(reverse("unsubscribe", args=[make_token(subscriber, "unsubscribe")]))


def view_url(delivery: Delivery) -> str:
    return absolute(reverse("view_digest", args=[make_view_token(delivery)]))


@dataclass(frozen=True)
class EmailLinks:
    """A digest's links. Inert links (previews, test digests, "as sent" pages for operators)
    are empty: the templates show a marked placeholder and no List-Unsubscribe is set."""

    manage: str = ""
    unsubscribe: str = ""
    view: str = ""  # "" for an email that is no delivery (a preview, a test)

    @property
    def inert(self) -> bool:
        return not self.unsubscribe


def email_links(subscriber: Subscriber, delivery: Delivery | None = None) -> EmailLinks:
    """The subscriber's own links, and the view-in-browser link of a delivery."""
    return EmailLinks(
        manage=manage_url(subscriber),
        unsubscribe=unsubscribe_url(subscriber),
        view=view_url(delivery) if delivery and delivery.pk else "",
    )


INERT = EmailLinks()


def unsubscribe_mailto() -> str:
    """Where the mailto: half of List-Unsubscribe goes (an inbox operators read)."""
    return settings.UNSUBSCRIBE_MAILTO or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
