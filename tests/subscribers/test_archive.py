from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import feedparser
import pytest
import time_machine
from django.urls import reverse

from digest.delivery import links
from digest.models import Delivery
from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.digests import send_digests_at

pytestmark = pytest.mark.django_db
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def reader(mailoutbox):
    with time_machine.travel(MONDAY - 8 * DAY, tick=False):
        reader = SubscriberFactory(email="ada@example.org", query="pruning")
    for day in range(4):  # Monday to Thursday, one pruning paper the night before each
        with time_machine.travel(MONDAY + day * DAY - timedelta(hours=8), tick=False):
            PaperFactory(title=f"Pruning, day {day}")
            if day == 2:
                PaperFactory(title="More pruning, day 2")
        send_digests_at(MONDAY + day * DAY)
    return reader


def manage_page(client, subscriber: Subscriber) -> str:
    return client.get(reverse("manage", args=[make_token(subscriber, "manage")])).content.decode()


def archive_links(page: str) -> list[tuple[str, str]]:
    found = re.findall(r'<li><a href="([^"]+)">([^<]+)</a> · (\d+ papers?)</li>', page)
    return [(unescape(href), f"{text} · {count}") for href, text, count in found]


def test_the_manage_page_lists_sent_digests_latest_first_each_opening_its_page(client, reader):
    monday, tuesday, *_ = reader.deliveries.order_by("sent_at")
    Delivery.objects.filter(pk=tuesday.pk).update(status="skipped")
    Delivery.objects.filter(pk=monday.pk).update(status="failed", failure_reason="refused")
    listed = archive_links(manage_page(client, reader))
    assert [text for _, text in listed] == [
        "Daily digest of Thursday, November 26, 2026 · 1 paper",
        "Daily digest of Wednesday, November 25, 2026 · 2 papers",
    ]
    for (href, _), title in zip(listed, ["Pruning, day 3", "More pruning, day 2"], strict=True):
        response = client.get(href.removeprefix("http://localhost:8000"))
        assert response.status_code == 200
        assert title in response.content.decode()


def test_the_archive_keeps_to_the_latest_few(reader):
    assert [d.papers for d in links.past_digests(reader, limit=2)] == [1, 2]


def test_the_manage_page_offers_the_feed_to_feed_readers_and_people(client, reader):
    page = manage_page(client, reader)
    (alternate,) = re.findall(
        r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" href="([^"]+)">', page
    )
    assert "Follow your matches in a feed reader" in page
    assert f'href="{alternate}" type="application/atom+xml">your Atom feed</a>' in page
    response = client.get(unescape(alternate).removeprefix("http://localhost:8000"))
    assert response.status_code == 200
    assert [e.title for e in feedparser.parse(response.content).entries][:1] == ["Pruning, day 3"]


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained", "pending"])
def test_no_feed_or_archive_is_offered_once_the_address_gets_no_digests(client, reader, status):
    Subscriber.objects.filter(pk=reader.pk).update(status=status)
    page = manage_page(client, reader)
    assert "application/atom+xml" not in page and "/feed/" not in page
    assert "/digest/" not in page and "Your digests" not in page


def test_a_reader_with_nothing_sent_yet_sees_the_feed_and_an_empty_archive(client):
    page = manage_page(client, SubscriberFactory())
    assert "Follow your matches in a feed reader" in page
    assert "No digest sent yet" in page
