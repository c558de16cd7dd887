"""Whole emails as a reader's mail server receives them, pinned before and after any change to
how they are rendered or sent: over SMTP to the aiosmtpd sink (parsed with email.policy.default)
and through anymail's Postmark backend to the fake Postmark API.

Links carry signed tokens that differ per run, so they are shown as <token>; everything else is
what the reader sees, word for word."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
import time_machine

from digest.delivery import sending
from digest.models import Delivery
from subscribers import emails
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)
SUNDAY_NIGHT = datetime(2026, 11, 22, 23, tzinfo=UTC)


class _VisibleText(HTMLParser):
    """The text a mail client shows (no <head>, <style> or the hidden preheader)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        style = dict(attrs).get("style") or ""
        if tag in ("head", "style", "title") or "display:none" in style.replace(" ", ""):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if self.hidden and tag in ("head", "style", "title", "div"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.words += data.split()


def visible(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return tokens_out(" ".join(parser.words))


def tokens_out(text: str) -> str:
    return re.sub(
        r"/(manage|unsubscribe|confirm|digest|feed|rate)/[^/\s\"<>]+/", r"/\1/<token>/", text
    )


def hrefs(html: str) -> list[str]:
    return [tokens_out(h) for h in re.findall(r'href="([^"]+)"', html)]


def received(sink) -> email.message.EmailMessage:
    (raw,) = sink.raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not message.defects
    for part in message.walk():
        assert not part.defects
    return message


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    return (
        message.get_body(("plain",)).get_content().replace("\r\n", "\n"),
        message.get_body(("html",)).get_content().replace("\r\n", "\n"),
    )


def bulk_headers_of(message) -> None:
    # Django folds long headers right after the colon; parsers keep that space.
    header = {name: str(message[name]).strip() for name in message}
    assert re.fullmatch(
        r"<http://localhost:8000/unsubscribe/[^>]+/>, "
        r"<mailto:digest@localhost\?subject=unsubscribe>",
        header["List-Unsubscribe"],
    )
    assert header["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert header["List-Id"] == "Paper Digest <digest.localhost>"
    assert re.fullmatch(r"<[^@<>\s]+@[^@<>\s]+>", header["Message-ID"])
    assert message["Date"].datetime is not None
    assert message["From"] == "Paper Digest <digest@localhost>"


@pytest.fixture
def edition_with_papers():
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        PaperFactory(
            title="Global channel pruning for vision transformers",
            abstract="We prune channels globally and keep accuracy — at 40% of the cost.",
            authors=["Ana Silva", "Wei Zhang"],
            arxiv_id="2411.00001",
            upvotes=12,
        )
        PaperFactory(
            title="Federated learning at scale",
            abstract="Many clients, one model.",
            arxiv_id="2411.00002",
        )
    with time_machine.travel(MONDAY, tick=False):
        subscriber = SubscriberFactory(email="ada@example.org", query="pruning\nfederated learning")
        edition = sending.plan_edition("daily", MONDAY)
    return edition, subscriber


def send_edition(edition) -> None:
    with time_machine.travel(MONDAY, tick=False):
        for ids in sending.dispatch(edition):
            sending.send_chunk(ids)


DIGEST_TEXT = """\
2 new papers on your topics
Daily digest · Monday, November 23
View in your browser: http://localhost:8000/digest/<token>/

1. Federated learning at scale
   Ana Silva, Wei Zhang

   Many clients, one model.

   matched: federated learning (in title)
   Abstract: https://arxiv.org/abs/2411.00002
   PDF: https://arxiv.org/pdf/2411.00002
   More like this: http://localhost:8000/rate/<token>/
   Less like this: http://localhost:8000/rate/<token>/

2. Global channel pruning for vision transformers
   Ana Silva, Wei Zhang

   We prune channels globally and keep accuracy — at 40% of the cost.

   matched: pruning (in title, abstract) · 12 upvotes
   Abstract: https://arxiv.org/abs/2411.00001
   PDF: https://arxiv.org/pdf/2411.00001
   More like this: http://localhost:8000/rate/<token>/
   Less like this: http://localhost:8000/rate/<token>/

--\x20
You're getting the daily digest (07:00 UTC) because ada@example.org subscribed on \
http://localhost:8000/ to new papers about: pruning, federated learning.
Change keywords or frequency: http://localhost:8000/manage/<token>/
Your feed: http://localhost:8000/feed/<token>/
Unsubscribe: http://localhost:8000/unsubscribe/<token>/"""

DIGEST_SEEN = (
    "Paper Digest 2 new papers on your topics Daily digest · Monday, November 23 · View in browser "
    "Preferences · Unsubscribe "
    "Federated learning at scale Ana Silva, Wei Zhang Many clients, one model. "
    "matched: federated learning (in title) · PDF · More like this · Less like this "
    "Global channel pruning for vision transformers Ana Silva, Wei Zhang "
    "We prune channels globally and keep accuracy — at 40% of the cost. "
    "matched: pruning (in title, abstract) · ▲ 12 upvotes · PDF · More like this · Less like this "
    "You're getting the daily digest (07:00 UTC) because ada@example.org subscribed on Paper "
    "Digest to new papers about: pruning, federated learning. Change keywords or frequency · "
    "Unsubscribe · Your feed · View in browser"
)


def test_a_digest_arrives_over_smtp_whole(smtp_sink, edition_with_papers):
    edition, _ = edition_with_papers
    send_edition(edition)
    message = received(smtp_sink)
    assert str(message["Subject"]).strip() == (
        "2 new papers on federated learning, pruning — Nov 23"
    )
    assert message["To"] == "ada@example.org"
    bulk_headers_of(message)
    text, html = parts(message)
    assert tokens_out(text.strip()) == DIGEST_TEXT
    assert visible(html) == DIGEST_SEEN
    assert "<mark" in html and "pruning</mark>" in html
    assert hrefs(html).count("http://localhost:8000/unsubscribe/<token>/") >= 1
    assert hrefs(html).count("http://localhost:8000/feed/<token>/") == 1  # in the footer only
    assert hrefs(html).count("http://localhost:8000/rate/<token>/") == 4  # two per paper
    assert Delivery.objects.get().status == Delivery.Status.SENT


def test_an_empty_digest_arrives_whole(smtp_sink, settings):
    settings.DIGEST_SEND_EMPTY = True
    with time_machine.travel(MONDAY, tick=False):
        SubscriberFactory(email="ada@example.org", query="quantum gravity")
        edition = sending.plan_edition("daily", MONDAY)
    send_edition(edition)
    message = received(smtp_sink)
    assert str(message["Subject"]).strip() == "Nothing new on your topics — Nov 23"
    bulk_headers_of(message)
    text, html = parts(message)
    assert "No new paper matched your topics in this edition. We'll keep looking." in text
    assert visible(html).startswith(
        "Paper Digest Nothing new on your topics this time Daily digest · Monday, November 23"
    )
    assert "No new paper matched your topics in this edition. We'll keep looking." in visible(html)
    assert "Unsubscribe" in visible(html)


def test_a_confirmation_arrives_whole(smtp_sink):
    subscriber = SubscriberFactory(email="ada@example.org", status="pending", query="pruning")
    emails.confirmation(subscriber).send()
    message = received(smtp_sink)
    assert str(message["Subject"]).strip() == "Confirm your Paper Digest subscription"
    bulk_headers_of(message)
    text, html = parts(message)
    assert "Confirm here (the link works for 7 days):\nhttp://localhost:8000/confirm/<token>/" in (
        tokens_out(text)
    )
    assert "http://localhost:8000/confirm/<token>/" in hrefs(html)
    assert "daily digest of new papers about" in visible(html)


def test_a_digest_arrives_at_the_esp_whole(postmark, edition_with_papers):
    edition, _ = edition_with_papers
    send_edition(edition)
    (sent,) = postmark.sent
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert sent["To"] == "ada@example.org"
    assert sent["From"] == "Paper Digest <digest@localhost>"
    assert sent["Subject"] == "2 new papers on federated learning, pruning — Nov 23"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == "Paper Digest <digest.localhost>"
    assert "/unsubscribe/" in headers["List-Unsubscribe"]
    assert re.fullmatch(r"<[^@<>\s]+@[^@<>\s]+>", headers["Message-ID"])
    assert tokens_out(sent["TextBody"].strip()) == DIGEST_TEXT
    assert visible(sent["HtmlBody"]) == DIGEST_SEEN
    delivery = Delivery.objects.get()
    assert sent["Metadata"]["delivery"] == str(delivery.pk)
    assert delivery.message_id == sent["MessageID"]


def test_a_confirmation_arrives_at_the_esp_whole(postmark):
    subscriber = SubscriberFactory(email="ada@example.org", status="pending", query="pruning")
    emails.confirmation(subscriber).send()
    (sent,) = postmark.sent
    assert sent["Subject"] == "Confirm your Paper Digest subscription"
    assert "/confirm/" in sent["TextBody"] and "/confirm/" in sent["HtmlBody"]
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
