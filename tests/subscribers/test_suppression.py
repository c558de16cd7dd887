from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from subscribers import subscriptions
from subscribers.models import EspEvent, Subscriber
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:subscribers_subscriber_changelist")
Status = Subscriber.Status


def suppressed(status: str, **fields: object) -> Subscriber:
    subscriber = SubscriberFactory(**fields)
    subscriptions.suppress(subscriber, status, "Postmark reported a hard bounce: no such user")
    return subscriber


def lift(client, subscriber: Subscriber, **extra: str):
    return client.post(
        CHANGELIST,
        {"action": "lift_suppression", "_selected_action": [subscriber.pk], **extra},
    )


def status_of(subscriber: Subscriber) -> str:
    subscriber.refresh_from_db()
    return subscriber.status


def test_it_asks_for_a_reason_before_lifting_a_suppression(admin_client):
    subscriber = suppressed(Status.BOUNCED)
    page = lift(admin_client, subscriber).content.decode()
    assert 'name="reason"' in page and subscriber.email in page
    assert status_of(subscriber) == Status.BOUNCED


def test_it_refuses_to_lift_without_a_reason(admin_client):
    subscriber = suppressed(Status.BOUNCED)
    page = lift(admin_client, subscriber, confirmed="yes", reason="  ").content.decode()
    assert "Say why" in page
    assert status_of(subscriber) == Status.BOUNCED


def test_lifting_a_mistaken_bounce_makes_the_subscriber_active_with_the_reason_audited(
    admin_client, admin_user
):
    subscriber = suppressed(Status.BOUNCED)
    reason = "ESP outage bounced every message on Nov 24"
    lift(admin_client, subscriber, confirmed="yes", reason=reason)
    assert status_of(subscriber) == Status.ACTIVE
    audit = subscriber.status_changes.first()
    assert (audit.from_status, audit.to_status) == (Status.BOUNCED, Status.ACTIVE)
    assert audit.reason == f"suppression lifted by operator {admin_user}: {reason}"


def test_lifting_a_complaint_sends_a_confirmation_and_nothing_more(
    admin_client, django_capture_on_commit_callbacks
):
    subscriber = suppressed(Status.COMPLAINED)
    with django_capture_on_commit_callbacks(execute=True):
        lift(admin_client, subscriber, confirmed="yes", reason="they wrote to ask for it back")
    subscriber.refresh_from_db()
    assert subscriber.status == Status.UNSUBSCRIBED and not subscriber.receives_digests
    assert [m.to for m in mail.outbox] == [[subscriber.email]]
    assert "confirm" in mail.outbox[0].subject.lower()


def test_lifting_leaves_subscribers_who_are_not_suppressed_alone(admin_client):
    active, unsubscribed = SubscriberFactory(), SubscriberFactory(status=Status.UNSUBSCRIBED)
    admin_client.post(
        CHANGELIST,
        {
            "action": "lift_suppression",
            "_selected_action": [active.pk, unsubscribed.pk],
            "confirmed": "yes",
            "reason": "testing",
        },
    )
    assert (status_of(active), status_of(unsubscribed)) == (Status.ACTIVE, Status.UNSUBSCRIBED)
    assert not active.status_changes.exists()


def test_a_viewer_cannot_lift_a_suppression(client, staff):
    client.force_login(staff("viewer"))
    subscriber = suppressed(Status.COMPLAINED)
    assert "lift_suppression" not in client.get(CHANGELIST).content.decode()
    lift(client, subscriber, confirmed="yes", reason="because")
    assert status_of(subscriber) == Status.COMPLAINED


def test_an_operator_can_lift_a_suppression(client, staff):
    client.force_login(staff("operator"))
    subscriber = suppressed(Status.BOUNCED)
    lift(client, subscriber, confirmed="yes", reason="mistaken bounce")
    assert status_of(subscriber) == Status.ACTIVE


def test_signing_up_again_after_a_complaint_sends_nothing_but_shows_in_the_admin(
    admin_client, django_capture_on_commit_callbacks
):
    subscriber = suppressed(Status.COMPLAINED, email="ada@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            subscriptions.subscribe(
                "ada@example.org", query="pruning", frequency="daily", per_email=10
            )
    assert not mail.outbox and status_of(subscriber) == Status.COMPLAINED
    notes = subscriber.status_changes.filter(reason=subscriptions.RETURN_AFTER_COMPLAINT)
    assert notes.count() == 1  # one note per complaint, however often the form is sent
    asked = admin_client.get(CHANGELIST, {"returning": "yes"}).content.decode()
    assert "ada@example.org" in asked
    other = SubscriberFactory(email="bob@example.org")
    subscriptions.suppress(other, Status.COMPLAINED, "complained")
    assert (
        "bob@example.org" not in admin_client.get(CHANGELIST, {"returning": "yes"}).content.decode()
    )


def test_the_subscriber_page_shows_their_esp_events(admin_client):
    subscriber = SubscriberFactory()
    EspEvent.objects.create(
        subscriber=subscriber,
        esp="Postmark",
        kind=EspEvent.Kind.HARD_BOUNCE,
        recipient=subscriber.email,
        message_id="abc",
        matched=False,
        outcome="ignored: not a message we sent",
    )
    page = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    assert "ignored: not a message we sent" in page.content.decode()


def test_viewers_and_operators_can_read_esp_events(staff, client):
    for group in ("viewer", "operator"):
        client.force_login(staff(group))
        assert client.get(reverse("admin:subscribers_espevent_changelist")).status_code == 200
