"""An operators' announcement goes to every receiving subscriber exactly once, through the
digests' own machinery: planning, claims, the send rate, unsubscribe headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from digest.delivery import sending
from digest.models import Announcement, Delivery
from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.mail import text_and_html

pytestmark = pytest.mark.django_db
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)


def announcement(**fields) -> Announcement:
    return Announcement.objects.create(
        subject=fields.get("subject", "We now send at your own hour"),
        body=fields.get(
            "body",
            "Digests now come at your local hour.\n\nChoose it: https://example.org/help",
        ),
    )


def send(note: Announcement) -> None:
    sending.plan_announcement(note)
    for ids in sending.dispatch(note):
        sending.send_chunk(ids)


def test_every_receiving_subscriber_gets_it_once(smtp_sink):
    receiving = {SubscriberFactory(frequency=f).email for f in ("daily", "weekly", "daily")}
    SubscriberFactory(paused=True)
    SubscriberFactory(status="unsubscribed")
    SubscriberFactory(status="pending")
    note = announcement()
    send(note)
    sending.plan_announcement(note)  # planned again: nothing new
    assert sending.dispatch(note) == []
    assert sorted(m["To"] for m in smtp_sink.messages) == sorted(receiving)
    assert set(note.deliveries.values_list("status", flat=True)) == {"sent"}
    assert note.planned_at is not None


def test_it_carries_the_bulk_headers_and_the_readers_own_links(smtp_sink):
    reader = SubscriberFactory(email="ada@example.org")
    send(announcement())
    (message,) = smtp_sink.messages
    assert message["Subject"] == "We now send at your own hour"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in message["List-Unsubscribe"]
    delivery = reader.deliveries.get()
    assert delivery.message_key in message["Message-ID"]
    text, html = text_and_html(message)
    assert "Digests now come at your local hour." in text and "/manage/" in text
    assert 'href="https://example.org/help"' in html  # a link, and paragraphs
    assert re.search(r"<p[^>]*>Choose it:", html) and re.search(r"<p[^>]*>Digests now", html)


def test_its_body_is_text_not_markup(smtp_sink):
    SubscriberFactory()
    send(announcement(body='<script>alert(1)</script> <img src=x onerror="steal()">'))
    _, html = text_and_html(smtp_sink.messages[0])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_nobody_unsubscribed_since_planning_gets_it(smtp_sink):
    stays, leaves = SubscriberFactory(), SubscriberFactory()
    note = announcement()
    sending.plan_announcement(note)
    Subscriber.objects.filter(pk=leaves.pk).update(status="unsubscribed")
    for ids in sending.dispatch(note):
        sending.send_chunk(ids)
    assert [m["To"] for m in smtp_sink.messages] == [stays.email]
    assert Delivery.objects.get(subscriber=leaves).status == "skipped"


def test_it_takes_no_digest_period_and_breaks_no_papers_window(smtp_sink):
    reader = SubscriberFactory(query="pruning")
    PaperFactory(title="Pruning on Sunday", first_seen_at=MONDAY - timedelta(hours=2))
    monday = sending.plan_edition("daily", MONDAY)
    send(announcement())
    PaperFactory(title="Pruning on Monday", first_seen_at=MONDAY + timedelta(hours=2))
    tuesday = sending.plan_edition("daily", MONDAY + timedelta(days=1))
    assert tuesday.deliveries.get(subscriber=reader).window_start == monday.window_end
    assert reader.deliveries.count() == 3  # two digests and the announcement
    assert not reader.deliveries.filter(announcement__isnull=False).exclude(period="").exists()


def test_send_digests_resumes_an_announcement_an_outage_left_unfinished(smtp_sink):
    from io import StringIO

    from django.core.management import call_command

    reader = SubscriberFactory()
    note = announcement()
    sending.plan_announcement(note)  # planned; its chunks were lost with the broker
    out = StringIO()
    call_command("send_digests", stdout=out, stderr=StringIO())
    assert "Announcement “We now send at your own hour”: resumed, 0 still unfinished" in (
        out.getvalue()
    )
    assert [m["To"] for m in smtp_sink.messages] == [reader.email]
