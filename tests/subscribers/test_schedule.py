"""The reader's terms: their time zone and hour (and weekday), how papers are ordered, which arXiv
announcements come; asked for at signup, carried by the confirm link, changed on the preferences
page, and told back to them ("your first digest comes …")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from digest.delivery import sending
from digest.matching import recent
from subscribers import subscriptions
from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
SIGNUP = {
    "email": "ada@example.org",
    "query": "pruning",
    "frequency": "daily",
    "per_email": "10",
    "time_zone": "Asia/Kolkata",
    "send_hour": "9",
    "send_weekday": "4",
    "ranking": "trending",
    "listing": "new",
}
WEDNESDAY_NOON = datetime(2026, 12, 2, 12, tzinfo=UTC)


@pytest.fixture
def signup(client, django_capture_on_commit_callbacks):
    def post(**changes: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("subscribe"), {**SIGNUP, **changes})

    return post


def confirm_link(message) -> str:
    return re.search(r"http://localhost:8000(/confirm/[^/\s]+/)", message.body).group(1)


def test_a_signup_keeps_the_readers_terms(signup):
    assert signup().status_code == 302
    reader = Subscriber.objects.get()
    assert (reader.time_zone, reader.send_hour, reader.send_weekday) == ("Asia/Kolkata", 9, 4)
    assert (reader.ranking, reader.listing) == ("trending", "new")


def test_an_empty_time_zone_is_utc_and_an_unknown_one_is_explained(signup):
    response = signup(time_zone="Mars/Olympus_Mons")
    assert "We don&#x27;t know that time zone" in response.content.decode()
    assert not Subscriber.objects.exists()
    signup(time_zone="")
    assert Subscriber.objects.get().time_zone == "UTC"


def test_a_known_address_gets_its_new_terms_only_through_the_confirm_link(
    client, signup, django_capture_on_commit_callbacks
):
    reader = SubscriberFactory(email="ada@example.org", status="unsubscribed", send_hour=7)
    signup()
    reader.refresh_from_db()
    assert (reader.send_hour, reader.time_zone) == (7, "UTC")  # nothing changed yet
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm_link(mail.outbox[-1]))
    reader.refresh_from_db()
    assert (reader.status, reader.send_hour, reader.time_zone) == ("active", 9, "Asia/Kolkata")
    assert (reader.ranking, reader.listing) == ("trending", "new")


def test_the_confirmed_page_says_when_the_first_digest_comes_and_what_it_covers(client, signup):
    with time_machine.travel(WEDNESDAY_NOON):  # 17:30 in Kolkata: 09:00 there is tomorrow
        signup()
        page = client.post(confirm_link(mail.outbox[-1])).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Your first daily digest comes on Thursday, December 3 at 09:00 (Asia/Kolkata)" in text
    assert "first seen since November 18: the ones your preview showed you" in text


def test_the_preferences_page_changes_the_terms_and_says_when_the_next_digest_comes(client):
    reader = SubscriberFactory()
    url = reverse("manage", args=[make_token(reader, "manage")])
    with time_machine.travel(WEDNESDAY_NOON):
        response = client.post(
            url,
            {
                "query": "pruning",
                "frequency": "weekly",
                "per_email": "10",
                "time_zone": "Pacific/Honolulu",
                "send_hour": "6",
                "send_weekday": "4",
                "ranking": "relevance",
                "listing": "all",
            },
            follow=True,
        )
    reader.refresh_from_db()
    assert (reader.frequency, reader.time_zone, reader.send_hour) == (
        "weekly",
        "Pacific/Honolulu",
        6,
    )
    assert (reader.send_weekday, reader.listing) == (4, "all")
    text = " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())
    assert "Your next digest comes on Friday, December 4 at 06:00 (Pacific/Honolulu)" in text


def test_an_old_form_without_the_new_fields_keeps_the_stored_terms(client):
    reader = SubscriberFactory(time_zone="Europe/Berlin", send_hour=18, ranking="trending")
    url = reverse("manage", args=[make_token(reader, "manage")])
    client.post(url, {"query": "diffusion", "frequency": "daily", "per_email": "10"})
    reader.refresh_from_db()
    assert (reader.query, reader.time_zone, reader.send_hour) == ("diffusion", "Europe/Berlin", 18)
    assert reader.ranking == "trending"


def test_the_first_digest_after_confirming_has_the_papers_the_preview_showed(
    client, django_capture_on_commit_callbacks, mailoutbox
):
    recent.forget()
    with time_machine.travel(WEDNESDAY_NOON - timedelta(days=3)):
        for n in range(3):
            PaperFactory(title=f"Structured pruning, take {n}", abstract="We prune.")
        PaperFactory(title="Diffusion for video", abstract="We diffuse.")
    with time_machine.travel(WEDNESDAY_NOON):
        shown = client.post(reverse("preview"), {"query": "pruning"}).content.decode()
        previewed = set(re.findall(r"Structured <mark>pruning</mark>, take \d", shown))
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("subscribe"), {**SIGNUP, "ranking": "relevance"})
        client.post(confirm_link(mailoutbox[-1]))
    assert len(previewed) == 3
    with time_machine.travel(datetime(2026, 12, 3, 3, 30, tzinfo=UTC)):  # 09:00 in Kolkata
        edition = sending.plan_edition("daily")
        for ids in sending.dispatch(edition):
            sending.send_chunk(ids)
    digest = mailoutbox[-1]
    assert digest.to == ["ada@example.org"] and "3 new papers on pruning" in digest.subject
    for title in previewed:
        assert title.replace("<mark>", "").replace("</mark>", "") in digest.body


def test_confirming_tells_nothing_to_a_stranger_with_a_bad_link(client):
    response = client.post("/confirm/forged-token/")
    assert response.status_code == 400
    assert "first digest" not in response.content.decode()


def test_subscriptions_apply_the_terms_as_given():
    reader = subscriptions.subscribe(
        "bob@example.org",
        query="",
        frequency="weekly",
        per_email=5,
        time_zone="Pacific/Tongatapu",
        send_hour=6,
        send_weekday=5,
        ranking="relevance",
        listing="all",
    )
    assert (reader.time_zone, reader.send_weekday, reader.wants_top_papers) == (
        "Pacific/Tongatapu",
        5,
        True,
    )


def test_the_confirm_page_shows_the_terms_the_link_would_set(client, signup):
    reader = SubscriberFactory(email="ada@example.org", status="unsubscribed")
    signup(query="", send_weekday="4", frequency="weekly")
    page = client.get(confirm_link(mail.outbox[-1])).content.decode()
    assert "When: Fridays at 09:00 Asia/Kolkata. Order: most upvoted first." in page
    assert "From arXiv: new submissions only." in page
    assert "The most upvoted new papers, whatever their topic." in page
    reader.refresh_from_db()
    assert reader.send_hour == 7  # shown, not applied, until confirmed
