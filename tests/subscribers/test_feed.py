from __future__ import annotations

import re
from datetime import UTC, datetime

import feedparser
import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils.http import http_date

from digest.delivery import feeds, previews
from digest.delivery.links import make_view_token, rating_url
from digest.models import Delivery, Paper
from subscribers import views
from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.digests import send_digests_at
from tests.support.mail import text_and_html

pytestmark = pytest.mark.django_db
SUNDAY_NIGHT = datetime(2026, 11, 22, 23, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)
MONDAY_NIGHT = datetime(2026, 11, 23, 20, tzinfo=UTC)
TUESDAY = datetime(2026, 11, 24, 7, tzinfo=UTC)


@pytest.fixture
def reader(mailoutbox):
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        PaperFactory(
            title="Global channel pruning for vision transformers",
            abstract="We prune channels globally and keep accuracy.",
            authors=["Ana Silva", "Wei Zhang", "Li Wei"],
            categories=["cs.LG", "cs.CV"],
            arxiv_id="2411.00001",
            upvotes=12,
        )
        PaperFactory(title="Pruning at initialization", arxiv_id="2411.00002")
        PaperFactory(
            title="Federated learning at scale", abstract="Many clients.", arxiv_id="2411.00003"
        )
        reader = SubscriberFactory(email="ada@example.org", query="pruning")
    send_digests_at(MONDAY)
    return reader


def send_tuesdays_digest() -> None:
    with time_machine.travel(MONDAY_NIGHT, tick=False):
        PaperFactory(title="Structured pruning of language models", arxiv_id="2411.00004")
    send_digests_at(TUESDAY)


def feed_path(subscriber: Subscriber) -> str:
    return reverse("feed", args=[make_token(subscriber, "feed")])


def titles(delivery: Delivery) -> list[str]:
    papers = Paper.objects.in_bulk(delivery.paper_ids)
    return [papers[pk].title for pk in delivery.paper_ids]


def test_the_feed_has_each_digests_papers_in_order_newest_digest_first_with_why(client, reader):
    send_tuesdays_digest()
    monday, tuesday = Delivery.objects.filter(status="sent").order_by("sent_at")
    response = client.get(feed_path(reader))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert [e.title for e in parsed.entries] == titles(tuesday) + titles(monday)
    assert len(titles(monday)) == 2  # both pruning papers, not the federated one
    first_monday = parsed.entries[1]
    assert first_monday.title == "Global channel pruning for vision transformers"
    assert first_monday.link == "https://arxiv.org/abs/2411.00001"
    assert first_monday.summary == "We prune channels globally and keep accuracy."
    assert "matched: pruning (in title, abstract) · ▲ 12 upvotes" in first_monday.content[0].value
    assert [a.name for a in first_monday.authors] == ["Ana Silva", "Wei Zhang", "Li Wei"]
    assert [t.term for t in first_monday.tags] == ["cs.LG", "cs.CV"]
    assert first_monday.id.startswith("tag:localhost,2026-11-23:delivery/")
    assert parsed.feed.updated_parsed[:6] == TUESDAY.timetuple()[:6]
    assert "ada@example.org" not in response.content.decode()
    assert "/manage/" not in response.content.decode()
    assert "/unsubscribe/" not in response.content.decode()


def test_each_entry_carries_its_digests_rating_links(client, reader):
    parsed = feedparser.parse(client.get(feed_path(reader)).content)
    delivery = Delivery.objects.get(status="sent")
    for entry in parsed.entries:
        paper = Paper.objects.get(title=entry.title)
        content = entry.content[0].value
        for action, label in (("more", "More like this"), ("less", "Less like this")):
            link = rating_url(delivery, paper.pk, action)
            assert f'<a href="{link}">{label}</a>' in content
    page = client.get(re.search(r'href="http://localhost:8000([^"]+)"', content).group(1))
    assert page.status_code == 200 and "More like this" in page.content.decode()


def test_entry_ids_stay_the_same_from_fetch_to_fetch_and_link_to_link(client, reader):
    first = feedparser.parse(client.get(feed_path(reader)).content)
    with time_machine.travel(TUESDAY):  # another token for the same reader
        again = feedparser.parse(client.get(feed_path(reader)).content)
    assert [e.id for e in first.entries] == [e.id for e in again.entries]
    assert len({e.id for e in first.entries}) == len(first.entries) == 2


def test_it_answers_304_to_its_etag_until_a_new_digest_is_sent(client, reader):
    path = feed_path(reader)
    response = client.get(path)
    etag = response["ETag"]
    assert response["Last-Modified"] == http_date(MONDAY.timestamp())
    not_modified = client.get(path, headers={"if-none-match": etag})
    assert not_modified.status_code == 304 and not not_modified.content
    assert not_modified["ETag"] == etag
    since = client.get(path, headers={"if-modified-since": response["Last-Modified"]})
    assert since.status_code == 304
    send_tuesdays_digest()
    changed = client.get(path, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert len(feedparser.parse(changed.content).entries) == 3


def test_the_etag_changes_with_the_readers_links(reader):
    before = feeds.PersonalFeed.of(reader).etag()
    Subscriber.objects.filter(pk=reader.pk).update(token_version=reader.token_version + 1)
    reader.refresh_from_db()
    assert feeds.PersonalFeed.of(reader).etag() != before


def test_the_etag_changes_when_a_paper_of_the_feed_is_edited(reader):
    before = feeds.PersonalFeed.of(reader).etag()
    paper = Paper.objects.get(arxiv_id="2411.00002")
    paper.abstract = "A corrected abstract."
    paper.save(update_fields=["abstract"])
    assert feeds.PersonalFeed.of(reader).etag() != before


def test_a_paper_hidden_since_is_left_out(client, reader):
    Paper.objects.filter(arxiv_id="2411.00002").update(hidden=True)
    parsed = feedparser.parse(client.get(feed_path(reader)).content)
    assert [e.title for e in parsed.entries] == ["Global channel pruning for vision transformers"]


def test_the_feed_dies_with_the_readers_links_after_unsubscribe_and_resubscribe(client, reader):
    old = feed_path(reader)
    assert client.get(old).status_code == 200
    reader.unsubscribe("unsubscribe link")
    assert client.get(old).status_code == 410
    reader.restart("signed up again")  # what coming back does: fresh links
    reader.confirm()
    assert client.get(old).status_code == 404
    assert client.get(feed_path(reader)).status_code == 200


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_the_feed_is_gone_once_the_address_gets_no_more_email(client, reader, status):
    Subscriber.objects.filter(pk=reader.pk).update(status=status)
    response = client.get(feed_path(reader))
    assert response.status_code == 410
    assert b"<entry" not in response.content and b"pruning" not in response.content.lower()
    assert response["X-Robots-Tag"] == "noindex"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda s: make_token(s, "manage"), id="a-manage-token"),
        pytest.param(lambda s: make_token(s, "unsubscribe"), id="an-unsubscribe-token"),
        pytest.param(lambda s: make_token(s, "confirm"), id="a-confirm-token"),
        pytest.param(lambda s: make_view_token(s.deliveries.get()), id="a-view-token"),
        pytest.param(lambda s: make_token(s, "feed")[:-3], id="truncated"),
        pytest.param(lambda s: make_token(s, "feed")[:-2] + "xx", id="altered"),
        pytest.param(lambda s: "WzEsMV0:1xVskN:forged", id="forged"),
    ],
)
def test_a_token_that_is_not_this_readers_feed_token_is_refused(client, reader, make):
    response = client.get(reverse("feed", args=[make(reader)]))
    assert response.status_code == 404
    assert b"<feed" not in response.content


def test_post_is_refused_and_fetching_changes_nothing(client, reader):
    path = feed_path(reader)
    assert client.post(path).status_code == 405
    before = list(Subscriber.objects.values()), list(Delivery.objects.values())
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200
    assert (list(Subscriber.objects.values()), list(Delivery.objects.values())) == before


def test_the_feed_is_private_and_not_for_search_engines(client, reader):
    response = client.get(feed_path(reader))
    assert "private" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex"
    not_modified = client.get(feed_path(reader), headers={"if-none-match": response["ETag"]})
    assert "private" in not_modified["Cache-Control"]


def test_fetching_a_feed_is_rate_limited_per_reader(client, reader, monkeypatch):
    monkeypatch.setattr(views, "FEED_FETCHES_PER_HOUR", 3)
    other = SubscriberFactory()
    assert [client.get(feed_path(reader)).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = client.get(feed_path(reader))
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert client.get(feed_path(other)).status_code == 200  # another reader's feed is not


def test_it_shows_the_latest_digests_and_at_most_so_many_papers(client, reader, monkeypatch):
    send_tuesdays_digest()
    monkeypatch.setattr(feeds, "FEED_DELIVERIES", 1)
    parsed = feedparser.parse(client.get(feed_path(reader)).content)
    assert [e.title for e in parsed.entries] == ["Structured pruning of language models"]
    monkeypatch.setattr(feeds, "FEED_DELIVERIES", 10)
    monkeypatch.setattr(feeds, "FEED_ENTRIES", 2)
    parsed = feedparser.parse(client.get(feed_path(reader)).content)
    assert len(parsed.entries) == 2


def test_a_reader_with_no_digest_yet_gets_an_empty_feed(client):
    response = client.get(feed_path(SubscriberFactory()))
    parsed = feedparser.parse(response.content)
    assert response.status_code == 200 and not parsed.bozo
    assert parsed.entries == [] and "ETag" in response and "Last-Modified" not in response


def test_hostile_paper_text_is_inert_in_the_feed(client, reader):
    Paper.objects.filter(arxiv_id="2411.00001").update(
        title="Pruning <script>alert(1)</script>\x07 bell",
        abstract='<img src=x onerror="alert(1)"> & more',
    )
    response = client.get(feed_path(reader))
    parsed = feedparser.parse(response.content)
    assert response.status_code == 200 and not parsed.bozo
    entry = next(e for e in parsed.entries if e.title.startswith("Pruning <script>"))
    assert entry.title == "Pruning <script>alert(1)</script> bell"  # text, control char dropped
    assert "&lt;img" in entry.content[0].value and "<img" not in entry.content[0].value


# --- the feed link in emails --------------------------------------------------------------------


def feed_links(html: str) -> list[str]:
    return re.findall(r'href="(http://localhost:8000/feed/[^"]+/)"', html)


def test_a_sent_digest_links_to_the_readers_working_feed(client, reader):
    (message,) = mail.outbox
    _, html = text_and_html(message)
    (link,) = feed_links(html)
    response = client.get(link.removeprefix("http://localhost:8000"))
    assert response.status_code == 200
    assert "Global channel pruning" in response.content.decode()


def test_view_in_browser_carries_the_feed_link_and_the_operators_as_sent_page_does_not(reader):
    delivery = Delivery.objects.get()
    _, page = text_and_html(previews.delivered_digest(delivery))
    assert len(feed_links(page)) == 1
    _, as_sent = text_and_html(previews.delivered_digest(delivery, inert=True))
    assert "/feed/" not in as_sent


def test_previews_and_test_digests_carry_no_feed_link(reader):
    mail.outbox.clear()
    preview, _ = previews.next_digest(reader)
    previews.send_test_digest("operator@example.org", subscriber=reader)
    (test_digest,) = mail.outbox
    for message in (preview, test_digest):
        text, html = text_and_html(message)
        assert "/feed/" not in text and "/feed/" not in html
