"""The webhook as production serves it: gunicorn, DEBUG off, the ESP's real payloads."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import requests

from subscribers.models import Subscriber
from tests.factories import SubscriberFactory
from tests.subscribers.test_tracking import (
    digest_sent_to,
    postmark_event,
    sendgrid_event,
    status_of,
)

pytestmark = [pytest.mark.postgres]
POSTMARK = {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend"}
TOKEN = {"ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token"}
SECRET = ("hooks", "s3cret")
MONDAY = datetime(2026, 11, 23, 7, tzinfo=UTC)


def hard_bounce(email: str, message_id: str) -> dict:
    return postmark_event("Bounce", "HardBounce", email, MessageID=message_id)


def wait_for_line(server, text: str, timeout: float = 5) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(text in line for line in server.lines):
        time.sleep(0.05)
    return [line for line in server.lines if text in line]


def test_without_a_secret_every_forged_event_is_refused_and_the_reason_logged_once(
    gunicorn_server,
):
    server = gunicorn_server.start(env={**POSTMARK, **TOKEN})
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    url = f"{server.url}/anymail/postmark/tracking/"
    for _ in range(3):
        answer = requests.post(url, json=hard_bounce(subscriber.email, delivery.message_id))
        assert answer.status_code == 403
    assert status_of(subscriber) == Subscriber.Status.ACTIVE
    assert len(wait_for_line(server, "ANYMAIL_WEBHOOK_SECRET is not set")) == 1


def test_with_a_secret_only_authenticated_events_about_our_messages_act(gunicorn_server):
    server = gunicorn_server.start(
        env={**POSTMARK, **TOKEN, "ANYMAIL_WEBHOOK_SECRET": ":".join(SECRET)}
    )
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    url = f"{server.url}/anymail/postmark/tracking/"
    ours = hard_bounce(subscriber.email, delivery.message_id)
    assert requests.post(url, json=ours).status_code == 400
    assert requests.post(url, json=ours, auth=("hooks", "guess")).status_code == 400
    assert status_of(subscriber) == Subscriber.Status.ACTIVE
    forged = hard_bounce(subscriber.email, str(uuid.uuid4()))
    assert requests.post(url, json=forged, auth=SECRET).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.ACTIVE
    assert requests.post(url, json=ours, auth=SECRET).status_code == 200
    assert status_of(subscriber) == Subscriber.Status.BOUNCED


def test_only_the_configured_esps_endpoint_exists(gunicorn_server):
    server = gunicorn_server.start(
        env={**POSTMARK, **TOKEN, "ANYMAIL_WEBHOOK_SECRET": ":".join(SECRET)}
    )
    subscriber = SubscriberFactory(email="ada@example.org")
    delivery = digest_sent_to(subscriber)
    spam = sendgrid_event("spamreport", subscriber.email, "x", delivery=str(delivery.pk))
    for esp in ("sendgrid", "mailgun", "brevo", "mandrill"):
        answer = requests.post(f"{server.url}/anymail/{esp}/tracking/", json=[spam], auth=SECRET)
        assert answer.status_code == 404, esp
    assert status_of(subscriber) == Subscriber.Status.ACTIVE


def test_an_smtp_deployment_mounts_no_webhook(gunicorn_server):
    server = gunicorn_server.start(
        env={"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    )
    answer = requests.post(f"{server.url}/anymail/postmark/tracking/", json={}, auth=SECRET)
    assert answer.status_code == 404
