from __future__ import annotations

import base64
import json

import pytest

from subscribers.models import Subscriber
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
URL = "/anymail/postmark/tracking/"


def postmark_event(record_type: str, kind: str, email: str, **extra: object) -> dict:
    # The shape Postmark posts to bounce and spam-complaint webhooks.
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "SpamComplaint": 512}[kind],
        "Name": kind,
        "Tag": "digest",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"delivery": "1", "edition": "1"},
        "ServerID": 23,
        "Description": (
            "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
        ),
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "digest@localhost",
        "BouncedAt": "2026-11-24T07:01:12.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "1 new paper on pruning — Nov 24",
        **extra,
    }


def post(client, payload: dict, secret: str = "hooks:s3cret"):
    auth = base64.b64encode(secret.encode()).decode()
    return client.post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )


def test_a_hard_bounce_suppresses_the_subscriber_with_the_event_in_the_audit_trail(
    client, postmark
):
    subscriber = SubscriberFactory(email="Ada@Example.org")
    response = post(client, postmark_event("Bounce", "HardBounce", "ada@example.org"))
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.BOUNCED
    assert not subscriber.receives_digests
    reason = subscriber.status_changes.get().reason
    assert reason.startswith("Postmark reported bounced: The server was unable to deliver")


def test_a_spam_complaint_suppresses_the_subscriber(client, postmark):
    subscriber = SubscriberFactory(email="ada@example.org")
    post(
        client,
        postmark_event(
            "SpamComplaint",
            "SpamComplaint",
            "ada@example.org",
            Description="The subscriber explicitly marked this message as spam.",
        ),
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.COMPLAINED
    assert "marked this message as spam" in subscriber.status_changes.get().reason


def test_a_soft_bounce_changes_nothing(client, postmark):
    subscriber = SubscriberFactory(email="ada@example.org")
    event = postmark_event("Bounce", "SoftBounce", "ada@example.org", Inactive=False)
    assert post(client, event).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


def test_a_soft_bounce_that_deactivated_the_address_suppresses(client, postmark):
    subscriber = SubscriberFactory(email="ada@example.org")
    post(client, postmark_event("Bounce", "SoftBounce", "ada@example.org", Inactive=True))
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.BOUNCED


def test_events_for_unknown_addresses_are_accepted_and_ignored(client, postmark):
    assert (
        post(client, postmark_event("Bounce", "HardBounce", "stranger@example.org")).status_code
        == 200
    )


def test_webhooks_without_the_secret_are_refused(client, postmark):
    subscriber = SubscriberFactory(email="ada@example.org")
    response = post(
        client, postmark_event("Bounce", "HardBounce", "ada@example.org"), secret="hooks:wrong"
    )
    assert response.status_code in (400, 401, 403)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
