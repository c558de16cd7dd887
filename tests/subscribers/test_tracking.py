from __future__ import annotations

import base64
import importlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent
from django.urls import clear_url_caches

from digest.delivery import sending
from digest.models import Delivery
from subscribers import subscriptions, tracking
from subscribers.models import EspEvent, Subscriber
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
POSTMARK = "anymail.backends.postmark.EmailBackend"
SENDGRID = "anymail.backends.sendgrid.EmailBackend"
SECRET = "hooks:s3cret"
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)


def mount(settings, backend: str, secret: str | None = SECRET) -> None:
    """Settings as production reads them at start-up: the URLs are built from them once."""
    settings.EMAIL_BACKEND = backend
    anymail = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    settings.ANYMAIL = {**anymail, "WEBHOOK_SECRET": secret} if secret else anymail
    import config.urls

    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture(autouse=True)
def _urls_as_configured_after_each_test():
    yield
    import config.urls

    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def hooks(settings, postmark):
    """The Postmark backend against the fake Postmark API, its webhook secured."""
    mount(settings, POSTMARK)
    return postmark


def postmark_event(record_type: str, kind: str, email: str, **extra: object) -> dict:
    # The shape Postmark posts to bounce and spam-complaint webhooks.
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "Name": kind,
        "Tag": "digest",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": (
            "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
        ),
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "digest@example.org",
        "BouncedAt": "2026-11-24T07:01:12.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "1 new paper on pruning — Nov 24",
        **extra,
    }


def postmark_unsubscribe(email: str, message_id: str) -> dict:
    # Postmark's SubscriptionChange webhook: the recipient used Postmark's unsubscribe link.
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2026-11-24T07:05:00Z",
        "Recipient": email,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "digest",
        "Metadata": {},
    }


def sendgrid_event(event: str, email: str, anymail_id: str, **extra: object) -> dict:
    # One record of SendGrid's event webhook; our metadata comes back merged into it.
    return {
        "email": email,
        "timestamp": 1795503672,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": ["digest"],
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "anymail_id": anymail_id,
        **extra,
    }


def post(client, url: str, payload: object, secret: str | None = SECRET):
    headers = {}
    if secret:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(url, data=json.dumps(payload), content_type="application/json", **headers)


def bounce(client, email: str, message_id: str, kind: str = "HardBounce", **extra: object):
    event = postmark_event("Bounce", kind, email, MessageID=message_id, **extra)
    return post(client, "/anymail/postmark/tracking/", event)


def digest_sent_to(subscriber: Subscriber, when: datetime = MONDAY) -> Delivery:
    """A real digest through the configured backend; the delivery keeps the ESP's id."""
    PaperFactory(title="Global channel pruning", first_seen_at=when - timedelta(hours=1))
    edition = sending.plan_edition(subscriber.frequency, when)
    for ids in sending.dispatch(edition):
        sending.send_chunk(ids)
    return Delivery.objects.get(subscriber=subscriber, edition=edition)


def status_of(subscriber: Subscriber) -> str:
    subscriber.refresh_from_db()
    return subscriber.status


# --- who may call, and where --------------------------------------------------------------------


def test_it_refuses_every_event_while_no_webhook_secret_is_configured(
    client, settings, postmark, caplog
):
    mount(settings, POSTMARK, secret=None)
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    with caplog.at_level(logging.WARNING, logger="subscribers.tracking"):
        for _ in range(2):
            response = post(
                client,
                "/anymail/postmark/tracking/",
                postmark_event(
                    "Bounce", "HardBounce", subscriber.email, MessageID=delivery.message_id
                ),
                secret=None,
            )
            assert response.status_code == 403
    assert status_of(subscriber) == Subscriber.Status.ACTIVE
    assert not EspEvent.objects.exists()
    refusals = [r for r in caplog.records if "ANYMAIL_WEBHOOK_SECRET" in r.getMessage()]
    assert len(refusals) == 1  # once per process, not once per forged request


def test_it_refuses_events_without_the_right_secret(client, hooks):
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    event = postmark_event("Bounce", "HardBounce", subscriber.email, MessageID=delivery.message_id)
    assert (
        post(client, "/anymail/postmark/tracking/", event, secret="hooks:wrong").status_code == 400
    )
    assert post(client, "/anymail/postmark/tracking/", event, secret=None).status_code == 400
    assert status_of(subscriber) == Subscriber.Status.ACTIVE


def test_it_mounts_only_the_configured_esps_tracking_url(client, settings):
    mount(settings, POSTMARK)
    for other in ("sendgrid/tracking", "mailgun/tracking", "brevo/tracking", "postmark/inbound"):
        assert post(client, f"/anymail/{other}/", {}).status_code == 404, other
    assert post(client, "/anymail/postmark/tracking/", {"RecordType": "Open"}).status_code == 200


def test_it_mounts_no_tracking_url_for_smtp_or_file_backends(client, settings):
    for backend in (
        "django.core.mail.backends.smtp.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    ):
        mount(settings, backend)
        assert post(client, "/anymail/postmark/tracking/", {}).status_code == 404, backend


# --- events about messages we sent --------------------------------------------------------------


def test_a_hard_bounce_of_a_digest_suppresses_with_the_event_in_the_audit_trail(client, hooks):
    subscriber = SubscriberFactory(email="Ada@Example.org")
    delivery = digest_sent_to(subscriber)
    assert bounce(client, "ada@example.org", delivery.message_id).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.BOUNCED
    assert not subscriber.receives_digests
    reason = subscriber.status_changes.get(to_status="bounced").reason
    assert reason.startswith("Postmark reported a hard bounce: The server was unable to deliver")
    event = EspEvent.objects.get()
    assert (event.subscriber, event.kind, event.matched) == (subscriber, "hard_bounce", True)


def test_a_bounce_for_a_message_we_did_not_send_is_recorded_and_changes_nothing(client, hooks):
    subscriber = SubscriberFactory(email="ada@example.org")
    digest_sent_to(subscriber)
    assert bounce(client, subscriber.email, str(uuid.uuid4())).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.ACTIVE
    event = EspEvent.objects.get()
    assert (event.subscriber, event.kind, event.matched) == (subscriber, "hard_bounce", False)
    assert "not a message we sent" in event.outcome


def test_another_subscribers_message_id_does_not_count(client, hooks):
    ada, bob = (
        SubscriberFactory(email="ada@example.org"),
        SubscriberFactory(email="bob@example.org"),
    )
    digest_sent_to(ada)
    bobs = Delivery.objects.get(subscriber=bob)
    assert bounce(client, ada.email, bobs.message_id).status_code == 200
    assert status_of(ada) == status_of(bob) == Subscriber.Status.ACTIVE


def test_events_for_unknown_addresses_are_recorded_and_ignored(client, hooks):
    assert bounce(client, "stranger@example.org", str(uuid.uuid4())).status_code == 200
    event = EspEvent.objects.get()
    assert event.subscriber is None and event.recipient == "stranger@example.org"
    assert not event.matched


def test_anymails_metadata_names_the_delivery_when_the_id_is_not_stored_yet(client, hooks):
    # The ESP can report a bounce before the worker has written the id it was given.
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    Delivery.objects.filter(pk=delivery.pk).update(message_id="")
    metadata = {"delivery": str(delivery.pk), "edition": str(delivery.edition_id)}
    assert bounce(client, subscriber.email, str(uuid.uuid4()), Metadata=metadata).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.BOUNCED


@pytest.mark.parametrize("odd", ["²", "9" * 40, "-1", ""])
def test_odd_metadata_names_no_delivery_and_breaks_nothing(client, hooks, odd):
    subscriber = SubscriberFactory(email="ada@example.org")
    digest_sent_to(subscriber)
    response = bounce(client, subscriber.email, str(uuid.uuid4()), Metadata={"delivery": odd})
    assert response.status_code == 200
    assert status_of(subscriber) == Subscriber.Status.ACTIVE  # not a message we can name


def test_a_bounced_confirmation_email_suppresses_the_pending_subscriber(
    client, hooks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        subscriber = subscriptions.subscribe(
            "ada@example.org", query="pruning", frequency="daily", per_email=10
        )
    (confirmation,) = hooks.sent
    assert bounce(client, subscriber.email, confirmation["MessageID"]).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.BOUNCED


def test_a_spam_complaint_suppresses_the_subscriber(client, hooks):
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    event = postmark_event(
        "SpamComplaint",
        "SpamComplaint",
        subscriber.email,
        MessageID=delivery.message_id,
        Description="The subscriber explicitly marked this message as spam.",
    )
    assert post(client, "/anymail/postmark/tracking/", event).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.COMPLAINED
    assert (
        "marked this message as spam"
        in subscriber.status_changes.get(to_status="complained").reason
    )


def test_a_postmark_subscription_change_unsubscribes(client, hooks):
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    event = postmark_unsubscribe(subscriber.email, delivery.message_id)
    assert post(client, "/anymail/postmark/tracking/", event).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.UNSUBSCRIBED
    assert "Postmark reported an unsubscribe" in subscriber.status_changes.get().reason


# --- SendGrid -----------------------------------------------------------------------------------


def test_sendgrid_bounce_spamreport_and_unsubscribe_act_on_our_messages(client, settings):
    ada, bob, cy = (SubscriberFactory(email=f"{n}@example.org") for n in ("ada", "bob", "cy"))
    delivery = {s: digest_sent_to(s) for s in (ada, bob, cy)}  # to the test outbox, no ESP ids
    mount(settings, SENDGRID)
    events = [
        sendgrid_event(
            "bounce",
            ada.email,
            str(uuid.uuid4()),
            type="bounce",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
            status="5.1.1",
            delivery=str(delivery[ada].pk),
            edition=str(delivery[ada].edition_id),
        ),
        sendgrid_event("spamreport", bob.email, str(uuid.uuid4()), delivery=str(delivery[bob].pk)),
        sendgrid_event("unsubscribe", cy.email, str(uuid.uuid4()), delivery=str(delivery[cy].pk)),
        # Metadata naming someone else's delivery is not about this address's message.
        sendgrid_event("spamreport", cy.email, str(uuid.uuid4()), delivery=str(delivery[ada].pk)),
    ]
    url = "/anymail/sendgrid/tracking/"
    assert post(client, url, events).status_code == 200
    assert status_of(ada) == Subscriber.Status.BOUNCED
    assert status_of(bob) == Subscriber.Status.COMPLAINED
    assert status_of(cy) == Subscriber.Status.UNSUBSCRIBED
    assert EspEvent.objects.filter(matched=False).get().kind == "complaint"


def test_sendgrid_events_without_the_secret_are_refused(client, settings):
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    mount(settings, SENDGRID)
    event = sendgrid_event("spamreport", subscriber.email, "x", delivery=str(delivery.pk))
    assert post(client, "/anymail/sendgrid/tracking/", [event], secret=None).status_code == 400
    assert status_of(subscriber) == Subscriber.Status.ACTIVE


# --- soft bounces -------------------------------------------------------------------------------


SOFT, HARD = EspEvent.Kind.SOFT_BOUNCE, EspEvent.Kind.HARD_BOUNCE


@pytest.mark.parametrize(
    ("esp", "event_type", "raw", "kind"),
    [
        pytest.param("Postmark", "bounced", {"Type": "SoftBounce"}, SOFT, id="postmark-softbounce"),
        pytest.param(
            "Postmark", "bounced", {"Type": "VirusNotification"}, SOFT, id="postmark-virus"
        ),
        pytest.param("Postmark", "deferred", {"Type": "Transient"}, SOFT, id="postmark-transient"),
        pytest.param("Brevo", "bounced", {"event": "soft_bounce"}, SOFT, id="brevo-soft_bounce"),
        pytest.param(
            "SendGrid",
            "bounced",
            {"event": "bounce", "type": "blocked"},
            SOFT,
            id="sendgrid-blocked",
        ),
        pytest.param("SendGrid", "deferred", {"event": "deferred"}, SOFT, id="sendgrid-deferred"),
        pytest.param(
            "Mailjet", "bounced", {"event": "bounce", "hard_bounce": False}, SOFT, id="mailjet-soft"
        ),
        pytest.param(
            "Amazon SES",
            "bounced",
            {"bounce": {"bounceType": "Transient"}},
            SOFT,
            id="ses-transient",
        ),
        pytest.param("Mailgun", "deferred", {}, SOFT, id="any-deferred"),
        # Every other bounce is taken as hard.
        pytest.param("Postmark", "bounced", {"Type": "HardBounce"}, HARD, id="postmark-hard"),
        pytest.param("Brevo", "bounced", {"event": "hard_bounce"}, HARD, id="brevo-hard"),
        pytest.param(
            "SendGrid", "bounced", {"event": "bounce", "type": "bounce"}, HARD, id="sendgrid"
        ),
        pytest.param(
            "Amazon SES",
            "bounced",
            {"bounce": {"bounceType": "Permanent"}},
            HARD,
            id="ses-permanent",
        ),
        pytest.param("Mailgun", "bounced", {}, HARD, id="any-bounced"),
    ],
)
def test_it_tells_soft_bounces_from_hard_ones(esp, event_type, raw, kind):
    event = AnymailTrackingEvent(event_type=event_type, esp_event=raw)
    assert tracking.classify(event, esp) == kind


def test_soft_bounces_suppress_only_after_the_limit_within_the_window(client, hooks, settings):
    settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_WINDOW_DAYS = 3, 30
    subscriber = SubscriberFactory(email="ada@example.org")
    days = [digest_sent_to(subscriber, MONDAY + timedelta(days=d)) for d in (0, 1, 2)]
    for delivery, kind in zip(days[:2], ("VirusNotification", "SoftBounce"), strict=True):
        bounce(client, subscriber.email, delivery.message_id, kind)
        # The ESP retrying one message (greylisting) is one soft bounce, not several.
        bounce(client, subscriber.email, delivery.message_id, kind)
        assert status_of(subscriber) == Subscriber.Status.ACTIVE
    assert "2 of 3" in EspEvent.objects.filter(kind="soft_bounce").first().outcome
    bounce(client, subscriber.email, days[2].message_id, "SoftBounce", Inactive=False)
    assert status_of(subscriber) == Subscriber.Status.BOUNCED
    assert "3 soft bounces in 30 days" in subscriber.status_changes.get(to_status="bounced").reason


def test_soft_bounces_older_than_the_window_are_not_counted(client, hooks, settings):
    settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_WINDOW_DAYS = 3, 30
    subscriber = SubscriberFactory(email="ada@example.org")
    days = [digest_sent_to(subscriber, MONDAY + timedelta(days=d)) for d in (0, 1, 2)]
    with time_machine.travel(MONDAY):
        bounce(client, subscriber.email, days[0].message_id, "SoftBounce", Inactive=False)
    with time_machine.travel(MONDAY + timedelta(days=40)):
        for delivery in days[1:]:
            bounce(client, subscriber.email, delivery.message_id, "SoftBounce", Inactive=False)
    assert status_of(subscriber) == Subscriber.Status.ACTIVE


def test_the_soft_bounce_settings_come_from_the_environment():
    from django.conf import settings

    assert (settings.SOFT_BOUNCE_LIMIT, settings.SOFT_BOUNCE_WINDOW_DAYS) == (3, 30)
