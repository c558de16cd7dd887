"""Finding a subscriber's live links (manage, unsubscribe, view in browser, feed, rating) in
what an operator sees: previews, "as sent" pages and test digests must carry none."""

from __future__ import annotations

import re
from html import unescape

from django.conf import settings

from digest.delivery.links import view_url
from subscribers import links


def live_links(text: str) -> list[str]:
    """Every absolute link to a subscriber's own pages in this text (HTML entities decoded)."""
    pages = rf"{re.escape(settings.SITE_URL)}/(?:manage|unsubscribe|digest|feed|rate)/[^\s\"'<>]+"
    return re.findall(pages, unescape(text))


def subscriber_urls(subscriber, delivery=None) -> list[str]:
    """The subscriber's working links right now (tokens are deterministic per version)."""
    urls = [links.manage_url(subscriber), links.unsubscribe_url(subscriber)]
    return [*urls, view_url(delivery)] if delivery else urls


def assert_no_live_links(text: str, subscriber=None, delivery=None) -> None:
    assert live_links(text) == []
    for url in subscriber_urls(subscriber, delivery) if subscriber else ():
        assert url not in unescape(text)
