from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def url(name: str, subscriber: Subscriber, purpose: str | None = None) -> str:
    return reverse(name, args=[make_token(subscriber, purpose or name)])


# --- confirm ------------------------------------------------------------------------------------


def test_opening_a_confirm_link_changes_nothing_until_the_button_is_pressed(client):
    subscriber = SubscriberFactory(status="pending", confirmed_at=None)
    response = client.get(url("confirm", subscriber))
    assert response.status_code == 200
    assert "Yes, confirm" in response.content.decode()
    assert "<script" not in response.content.decode()  # nothing submits itself
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_pressing_confirm_activates_and_records_why(client):
    subscriber = SubscriberFactory(status="pending", confirmed_at=None)
    response = client.post(url("confirm", subscriber))
    assert response.status_code == 200
    assert "You're subscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "active" and subscriber.confirmed_at
    assert subscriber.status_changes.get().reason == "confirmed by email link"


def test_confirming_twice_is_harmless(client):
    subscriber = SubscriberFactory(status="pending", confirmed_at=None)
    link = url("confirm", subscriber)
    client.post(link)
    assert client.post(link).status_code == 200
    assert subscriber.status_changes.count() == 1


def test_an_expired_confirm_link_offers_a_new_one(
    client, settings, django_capture_on_commit_callbacks
):
    settings.CONFIRM_LINK_DAYS = 7
    subscriber = SubscriberFactory(status="pending", confirmed_at=None)
    link = url("confirm", subscriber)
    with time_machine.travel(timezone.now() + timezone.timedelta(days=8)):
        response = client.get(link)
        assert response.status_code == 400
        assert "This link has expired" in response.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            resent = client.post(reverse("resend_confirmation", args=[link.split("/")[2]]))
    assert resent.status_code == 200
    assert [m.subject for m in mail.outbox] == ["Confirm your Paper Digest subscription"]
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


@pytest.mark.parametrize("token", ["nonsense", "WzEsMV0:1xVskN:forged", "a" * 300])
@pytest.mark.parametrize("name", ["confirm", "manage", "unsubscribe"])
def test_bad_links_get_a_friendly_400(client, name, token):
    response = client.get(reverse(name, args=[token]))
    assert response.status_code == 400
    assert "This link doesn't work" in response.content.decode()


def test_a_manage_token_cannot_confirm_or_unsubscribe(client):
    subscriber = SubscriberFactory(status="pending", confirmed_at=None)
    token = make_token(subscriber, "manage")
    assert client.post(reverse("confirm", args=[token])).status_code == 400
    assert client.post(reverse("unsubscribe", args=[token])).status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


# --- manage -------------------------------------------------------------------------------------


def test_preferences_page_shows_the_subscribers_settings(client):
    subscriber = SubscriberFactory(query="diffusion models", frequency="weekly")
    page = client.get(url("manage", subscriber)).content.decode()
    assert "diffusion models" in page
    assert subscriber.email in page


def test_saving_preferences(client):
    subscriber = SubscriberFactory()
    link = url("manage", subscriber)
    response = client.post(
        link,
        {"query": "grok*\ncategory:cs.LG", "frequency": "weekly", "per_email": "5", "paused": "on"},
        follow=True,
    )
    assert "Saved." in response.content.decode()
    subscriber.refresh_from_db()
    assert (subscriber.query, subscriber.frequency, subscriber.per_email, subscriber.paused) == (
        "grok*\ncategory:cs.LG",
        "weekly",
        5,
        True,
    )
    assert not subscriber.receives_digests


def test_an_invalid_query_is_explained_and_nothing_is_saved(client):
    subscriber = SubscriberFactory(query="pruning")
    response = client.post(
        url("manage", subscriber), {"query": "-only", "frequency": "daily", "per_email": "10"}
    )
    assert "only excludes words" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.query == "pruning"


def test_one_subscribers_link_never_touches_another(client):
    mine, theirs = SubscriberFactory(query="mine"), SubscriberFactory(query="theirs")
    client.post(url("manage", mine), {"query": "changed", "frequency": "daily", "per_email": "10"})
    theirs.refresh_from_db()
    assert theirs.query == "theirs"
    assert theirs.email not in client.get(url("manage", mine)).content.decode()


def test_an_unsubscribed_subscriber_can_resubscribe_from_their_link(client):
    subscriber = SubscriberFactory(status="unsubscribed")
    response = client.post(url("resubscribe", subscriber, "manage"), follow=True)
    assert "subscribed again" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


# --- unsubscribe --------------------------------------------------------------------------------


def test_opening_an_unsubscribe_link_changes_nothing_by_itself(client):
    subscriber = SubscriberFactory()
    response = client.get(url("unsubscribe", subscriber))
    assert response.status_code == 200 and "<script" not in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_the_unsubscribe_button_unsubscribes(client):
    subscriber = SubscriberFactory()
    response = client.post(url("unsubscribe", subscriber))
    assert "You're unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed" and subscriber.unsubscribed_at
    assert subscriber.status_changes.get().reason == "unsubscribe link"


def test_rfc8058_one_click_post_unsubscribes_without_cookies_or_csrf():
    subscriber = SubscriberFactory()
    provider = Client(enforce_csrf_checks=True)  # Gmail and Yahoo send no cookies, no CSRF token
    response = provider.post(
        url("unsubscribe", subscriber),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    assert subscriber.status_changes.get().reason == "one-click unsubscribe (RFC 8058)"


def test_unsubscribe_links_never_expire():
    subscriber = SubscriberFactory()
    link = url("unsubscribe", subscriber)
    with time_machine.travel(timezone.now() + timezone.timedelta(days=900)):
        assert (
            Client()
            .post(
                link,
                data="List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded",
            )
            .status_code
            == 200
        )


def test_unsubscribing_twice_is_harmless(client):
    subscriber = SubscriberFactory()
    link = url("unsubscribe", subscriber)
    client.post(link)
    assert client.post(link).status_code == 200
    assert subscriber.status_changes.count() == 1


# --- the links themselves ---------------------------------------------------------------------


def test_links_are_what_reverse_gives_under_any_script_prefix(settings):
    from django.urls import set_script_prefix

    from digest.delivery.links import EmailLinks, email_links, make_view_token
    from digest.delivery.sending import plan_edition
    from subscribers import links

    subscriber = SubscriberFactory()
    (delivery,) = plan_edition("daily", any_hour=True).deliveries.all()
    for prefix in ("/", "/digest/"):
        set_script_prefix(prefix)
        try:
            token = make_token(subscriber, "manage")
            assert links.manage_url(subscriber).startswith(settings.SITE_URL + prefix)
            assert links.manage_url(subscriber) == links.absolute(reverse("manage", args=[token]))
            unsubscribe = make_token(subscriber, "unsubscribe")
            assert links.unsubscribe_url(subscriber) == links.absolute(
                reverse("unsubscribe", args=[unsubscribe])
            )
            view = links.absolute(reverse("view_digest", args=[make_view_token(delivery)]))
            assert email_links(subscriber, delivery) == EmailLinks(
                manage=links.manage_url(subscriber),
                unsubscribe=links.unsubscribe_url(subscriber),
                view=view,
                feed=links.feed_url(subscriber),
            )
            assert view.startswith(settings.SITE_URL + prefix)
            assert links.feed_url(subscriber).startswith(settings.SITE_URL + prefix)
            assert email_links(subscriber).view == ""
        finally:
            set_script_prefix("/")
    settings.UNSUBSCRIBE_MAILTO = ""
    settings.DEFAULT_FROM_EMAIL = "Paper Digest <digest@example.org>"
    assert links.unsubscribe_mailto() == "digest@example.org"
    settings.DEFAULT_FROM_EMAIL = "other@example.org"
    assert links.unsubscribe_mailto() == "other@example.org"
