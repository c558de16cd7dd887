from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse

from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.links import assert_no_live_links

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:subscribers_subscriber_changelist")


def test_subscribers_can_be_searched_and_filtered(admin_client):
    SubscriberFactory(email="ada@example.org", frequency="weekly")
    SubscriberFactory(email="bob@example.org", status="pending")
    assert "ada@example.org" in admin_client.get(CHANGELIST, {"q": "ADA@"}).content.decode()
    filtered = admin_client.get(CHANGELIST, {"status__exact": "pending"}).content.decode()
    assert "bob@example.org" in filtered and "ada@example.org" not in filtered


def test_the_audit_trail_is_shown_on_the_subscriber(admin_client):
    subscriber = SubscriberFactory(status="pending")
    subscriber.confirm()
    page = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    assert "confirmed by email link" in page.content.decode()


def test_resend_confirmation_action_emails_pending_subscribers_only(
    admin_client, django_capture_on_commit_callbacks
):
    pending, active = SubscriberFactory(status="pending"), SubscriberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            CHANGELIST,
            {
                "action": "resend_confirmation",
                "_selected_action": [pending.pk, active.pk],
                "confirmed": "yes",
            },
        )
    assert [m.to for m in mail.outbox] == [[pending.email]]


def test_unsubscribe_action_records_the_operator(admin_client, admin_user):
    subscriber = SubscriberFactory()
    admin_client.post(
        CHANGELIST,
        {"action": "unsubscribe", "_selected_action": [subscriber.pk], "confirmed": "yes"},
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.status_changes.get().reason == f"unsubscribed by operator {admin_user}"


def test_the_confirmation_page_names_its_action_whatever_the_changelist_posted(
    admin_client, monkeypatch
):
    from subscribers.admin import SubscriberAdmin

    monkeypatch.setattr(SubscriberAdmin, "actions_on_bottom", True)  # two action bars
    subscriber = SubscriberFactory()
    first = admin_client.post(
        CHANGELIST, {"action": ["unsubscribe", ""], "index": 0, "_selected_action": [subscriber.pk]}
    )
    assert 'name="action" value="unsubscribe"' in first.content.decode()
    admin_client.post(
        CHANGELIST,
        {"action": "unsubscribe", "_selected_action": [subscriber.pk], "confirmed": "yes"},
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_operators_can_preview_a_subscribers_next_digest(admin_client, mailoutbox):
    PaperFactory(title="Global channel pruning")
    subscriber = SubscriberFactory(query="pruning")
    change = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    assert "Preview the next digest" in change.content.decode()
    page = admin_client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert page.status_code == 200
    assert "1 new paper on your topics" in page.content.decode()
    assert not mailoutbox


def test_it_previews_the_next_digest_with_inert_links_even_for_a_superuser(admin_client):
    PaperFactory(title="Global channel pruning")
    subscriber = SubscriberFactory(query="pruning")
    page = admin_client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    html = page.content.decode()
    assert "Global channel pruning" in html
    assert "links, disabled in previews" in html
    assert_no_live_links(html, subscriber)


@pytest.mark.parametrize("group", [None, "viewer"])
def test_it_previews_only_for_staff_who_may_view_subscribers(client, django_user_model, group):
    subscriber = SubscriberFactory(query="pruning")
    user = django_user_model.objects.create_user("someone", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    response = client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert response.status_code == (200 if group else 403)
    assert (subscriber.email in response.content.decode()) == bool(group)


def test_digest_previews_are_for_staff_only(client):
    subscriber = SubscriberFactory()
    response = client.get(reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_sends_the_confirmation_to_a_subscriber_added_in_the_admin(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:subscribers_subscriber_add"), NEW_SUBSCRIBER)
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("new@example.org", "pending")
    assert subscriber.status_changes.get().reason == "added in the admin by admin"
    (message,) = mail.outbox
    assert message.subject == "Confirm your Paper Digest subscription"


def test_it_explains_that_an_address_added_in_the_admin_is_already_known(admin_client):
    SubscriberFactory(email="New@Example.org", status="unsubscribed")
    response = admin_client.post(reverse("admin:subscribers_subscriber_add"), NEW_SUBSCRIBER)
    assert response.status_code == 200
    assert "already a subscriber" in response.content.decode()
    assert Subscriber.objects.get().status == "unsubscribed"


NEW_SUBSCRIBER = {
    "email": "new@example.org",
    "query": "pruning",
    "frequency": "daily",
    "per_email": "10",
    "status_changes-TOTAL_FORMS": "0",
    "status_changes-INITIAL_FORMS": "0",
    "status_changes-MIN_NUM_FORMS": "0",
    "status_changes-MAX_NUM_FORMS": "0",
    "esp_events-TOTAL_FORMS": "0",
    "esp_events-INITIAL_FORMS": "0",
    "esp_events-MIN_NUM_FORMS": "0",
    "esp_events-MAX_NUM_FORMS": "0",
    "seeds-TOTAL_FORMS": "0",
    "seeds-INITIAL_FORMS": "0",
    "seeds-MIN_NUM_FORMS": "0",
    "seeds-MAX_NUM_FORMS": "0",
}


def test_the_admin_keeps_keywords_required_for_a_subscriber_without_a_profile(admin_client):
    subscriber = SubscriberFactory(query="pruning")
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    data = {"email": subscriber.email, "query": "", "frequency": "daily", "per_email": "10"}
    for name in ("status_changes", "esp_events", "seeds"):
        data.update({f"{name}-TOTAL_FORMS": "0", f"{name}-INITIAL_FORMS": "0"})
    response = admin_client.post(url, data)
    assert "Enter at least one topic" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.query == "pruning"


def test_the_subscriber_page_shows_their_seeds_and_interest_and_no_live_links(admin_client):
    from digest.matching import profiles
    from digest.matching.seeds import SeedRef

    paper = PaperFactory(title="Federated Averaging")
    subscriber = SubscriberFactory(query="", interest="privacy-preserving training")
    profiles.set_seeds(subscriber, [SeedRef(arxiv_id=paper.arxiv_id)])
    page = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    html = page.content.decode()
    assert "privacy-preserving training" in html and "Federated Averaging" in html
    assert_no_live_links(html, subscriber)
