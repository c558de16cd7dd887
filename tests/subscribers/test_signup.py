from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from subscribers import subscriptions
from subscribers.models import StatusChange, Subscriber
from subscribers.tokens import make_token
from tests.factories import SubscriberFactory
from tests.support.mail import assert_email_contains
from tests.support.races import run_at_once

pytestmark = pytest.mark.django_db
SIGNUP = {
    "email": "Ada@Example.org",
    "query": "pruning\nfederated learning",
    "frequency": "weekly",
    "per_email": "20",
}


@pytest.fixture
def signup(client, django_capture_on_commit_callbacks):
    def post(**changes: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("subscribe"), {**SIGNUP, **changes})

    return post


def test_signup_creates_a_pending_subscriber_and_sends_a_confirmation(signup):
    response = signup()
    assert response.status_code == 302
    assert response["Location"] == reverse("subscribed")
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.email_key) == ("Ada@Example.org", "ada@example.org")
    assert (subscriber.status, subscriber.frequency, subscriber.per_email) == (
        "pending",
        "weekly",
        20,
    )
    (message,) = mail.outbox
    assert message.to == ["Ada@Example.org"]
    assert message.subject == "Confirm your Paper Digest subscription"
    assert_email_contains(message, "/confirm/")
    assert_email_contains(message, "federated learning")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert subscriber.confirmation_sent_at is None or subscriber.status == "pending"


@pytest.mark.parametrize(
    ("status", "email_subject"),
    [
        ("pending", "Confirm your Paper Digest subscription"),
        ("active", "You're already subscribed to Paper Digest"),
        ("unsubscribed", "Confirm your Paper Digest subscription"),
        ("bounced", "Confirm your Paper Digest subscription"),
        ("complained", None),
    ],
)
def test_every_known_address_gets_the_same_page_and_the_right_email(
    signup, client, status, email_subject
):
    first = signup(email="fresh@example.org")
    fresh_page = client.get(first["Location"]).content
    mail.outbox.clear()
    SubscriberFactory(email="ADA@example.org", status=status, query="diffusion", per_email=5)
    response = signup()
    assert (response.status_code, response["Location"]) == (first.status_code, first["Location"])
    assert client.get(response["Location"]).content == fresh_page
    assert [m.subject for m in mail.outbox] == ([email_subject] if email_subject else [])


def test_an_active_subscribers_preferences_are_not_changed_by_someone_signing_them_up(signup):
    SubscriberFactory(email="ada@example.org", status="active", query="diffusion", per_email=5)
    signup()
    subscriber = Subscriber.objects.get()
    assert (subscriber.query, subscriber.per_email, subscriber.status) == ("diffusion", 5, "active")


def confirm_path(message) -> str:
    return re.search(r"(/confirm/[^/\s]+/)", message.body).group(1)


def stored(subscriber: Subscriber) -> tuple:
    subscriber.refresh_from_db()
    return (
        subscriber.status,
        subscriber.query,
        subscriber.frequency,
        subscriber.per_email,
        subscriber.token_version,
    )


@pytest.mark.parametrize("status", ["pending", "unsubscribed", "bounced"])
def test_it_changes_nothing_stored_when_someone_signs_up_a_known_address(signup, status):
    known = SubscriberFactory(
        email="ada@example.org", status=status, query="diffusion", frequency="daily", per_email=5
    )
    before = stored(known)
    signup()
    assert stored(known) == before
    assert not StatusChange.objects.exists()
    (message,) = mail.outbox
    assert_email_contains(message, "federated learning")  # what the new link would confirm


@pytest.mark.parametrize("status", ["pending", "unsubscribed", "bounced"])
def test_it_applies_a_signups_preferences_when_its_confirmation_link_is_used(
    signup, client, status
):
    known = SubscriberFactory(email="ada@example.org", status=status, query="diffusion")
    signup()
    page = client.get(confirm_path(mail.outbox[0])).content.decode()
    assert "federated learning" in page and "weekly" in page  # what the button will confirm
    assert stored(known)[1] == "diffusion"  # opening the link changed nothing
    client.post(confirm_path(mail.outbox[0]))
    assert stored(known)[:4] == ("active", SIGNUP["query"], "weekly", 20)


def test_the_original_confirmation_link_still_confirms_the_original_preferences(signup, client):
    victim = SubscriberFactory(email="ada@example.org", status="pending", query="diffusion")
    original = reverse("confirm", args=[make_token(victim, "confirm")])
    signup()  # someone else types the victim's address with their own keywords
    client.post(original)
    assert stored(victim)[:4] == ("active", "diffusion", "daily", 10)
    client.post(confirm_path(mail.outbox[0]))  # the other link, once active, changes nothing
    assert stored(victim)[:4] == ("active", "diffusion", "daily", 10)


def test_an_unsubscribed_readers_links_keep_working_when_someone_types_their_address(
    signup, client
):
    reader = SubscriberFactory(email="ada@example.org", status="unsubscribed")
    manage = reverse("manage", args=[make_token(reader, "manage")])
    signup()
    assert client.get(manage).status_code == 200


@pytest.mark.parametrize("way", ["signing up again", "the resubscribe button"])
def test_it_starts_fresh_links_whichever_way_an_unsubscribed_reader_comes_back(signup, client, way):
    reader = SubscriberFactory(email="ada@example.org", status="unsubscribed")
    old_manage = reverse("manage", args=[make_token(reader, "manage")])
    if way == "signing up again":
        signup()
        page = client.post(confirm_path(mail.outbox[0])).content.decode()
        assert StatusChange.objects.get().reason == "confirmed a new signup by email link"
    else:
        response = client.post(reverse("resubscribe", args=[make_token(reader, "manage")]))
        page = f'<a href="{response["Location"]}">'
    assert stored(reader)[0] == "active"
    assert client.get(old_manage).status_code == 400
    new_manage = reverse("manage", args=[make_token(reader, "manage")])
    assert f'href="{new_manage}"' in page  # where to go from here


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"email": "not-an-address"},
            "Enter a valid email address, like ada@example.org.",
            id="invalid-email",
        ),
        pytest.param({"query": '"mixture of experts'}, "unmatched quote", id="unmatched-quote"),
    ],
)
def test_a_refused_form_says_why_and_subscribes_nobody(signup, fields, message):
    response = signup(**fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Subscriber.objects.exists()


def test_header_injection_in_the_address_is_refused(signup):
    response = signup(email="ada@example.org\r\nBcc: everyone@example.org")
    assert "control characters" in response.content.decode()
    assert not Subscriber.objects.exists() and not mail.outbox


def test_signups_per_ip_are_limited(signup, settings):
    settings.SIGNUP_LIMIT_PER_IP = 3
    for i in range(3):
        assert signup(email=f"reader{i}@example.org").status_code == 302
    response = signup(email="one-more@example.org")
    assert response.status_code == 200
    assert "Too many signups from your network" in response.content.decode()
    assert Subscriber.objects.count() == 3


def test_emails_per_address_are_limited_silently(signup, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    responses = [signup() for _ in range(4)]
    assert {r["Location"] for r in responses} == {reverse("subscribed")}
    assert len(mail.outbox) == 2


def test_bots_filling_the_hidden_field_get_the_page_but_nothing_happens(signup):
    response = signup(website="https://spam.example")
    assert response.status_code == 302
    assert not Subscriber.objects.exists() and not mail.outbox


def test_the_form_is_csrf_protected():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(reverse("subscribe"), SIGNUP)
    assert response.status_code == 403
    assert "This form expired" in response.content.decode()


def test_without_javascript_the_preview_button_shows_matches_and_subscribes_nobody(
    client, data_dir
):
    from digest.ingest import sources
    from digest.matching import recent

    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    recent.forget()
    response = client.post(reverse("subscribe"), {**SIGNUP, "query": "pruning", "preview": "1"})
    assert response.status_code == 200
    assert "<mark>Pruning</mark>" in response.content.decode()
    assert not Subscriber.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_signups_for_one_address_make_one_subscriber():
    def subscribe() -> None:
        subscriptions.subscribe(
            "race@example.org", query="pruning", frequency="daily", per_email=10
        )

    assert run_at_once(subscribe, threads=4) == []
    assert Subscriber.objects.filter(email_key="race@example.org").count() == 1


def test_it_accepts_keywords_at_the_limit_however_the_browser_sends_newlines(signup):
    line = "quantizations quantizations quantization quantization quantization quantization"
    query = "\n".join([line] * 25)  # 25 topics of 79 characters: 1,999 with bare newlines
    assert len(query) <= 2000 < len(query.replace("\n", "\r\n"))  # maxlength counts 1 each
    response = signup(query=query.replace("\n", "\r\n"))  # browsers submit CRLF
    assert response.status_code == 302
    assert Subscriber.objects.get().query == query


def test_it_explains_keywords_over_the_limit_once_in_its_own_words(signup):
    response = signup(query="pruning " * 300)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("Keep your keywords under 2,000 characters") == 1
    assert "Ensure this value" not in page
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("status", "paused", "said"),
    [
        ("active", False, "Your next digest will use these preferences."),
        ("active", True, "Your digests are paused"),
        ("pending", False, "Confirm from the email we sent you"),
        ("unsubscribed", False, "You are not subscribed, so no digests will come."),
        ("bounced", False, "You are not subscribed, so no digests will come."),
    ],
)
def test_it_says_what_saved_preferences_will_do(client, status, paused, said):
    subscriber = SubscriberFactory(status=status, paused=paused)
    manage = reverse("manage", args=[make_token(subscriber, "manage")])
    form = {"query": "diffusion", "frequency": "daily", "per_email": "10"}
    page = client.post(manage, {**form, "paused": "on"} if paused else form, follow=True)
    assert said in page.content.decode()
    if said != "Your next digest will use these preferences.":
        assert "Your next digest will use" not in page.content.decode()
