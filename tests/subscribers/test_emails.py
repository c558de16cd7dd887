from __future__ import annotations

import time

import pytest
from django.core import mail

from subscribers.tasks import send_subscriber_email_task
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("active", "confirm"),
        ("complained", "confirm"),
        ("pending", "already_subscribed"),
        ("unsubscribed", "already_subscribed"),
    ],
)
def test_it_sends_nothing_the_subscribers_state_does_not_call_for(status, kind):
    # However the task was started: an operator can run any task from the admin.
    subscriber = SubscriberFactory(status=status)
    result = send_subscriber_email_task.delay(subscriber.pk, kind).get()
    assert result.startswith(f"skipped {kind}")
    assert mail.outbox == []


def test_it_keeps_to_the_per_address_limit_however_the_task_is_started(settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    subscriber = SubscriberFactory(status="pending")
    for _ in range(5):
        send_subscriber_email_task.delay(subscriber.pk, "confirm")
    assert len(mail.outbox) == 2


@pytest.mark.redis
def test_it_retries_a_confirmation_the_mail_server_defers(workers, smtp_sink, monkeypatch):
    greylisted: list[str] = []
    accept = smtp_sink.handler.handle_RCPT

    async def greylist_once(server, session, envelope, address, rcpt_options):
        if not greylisted:
            greylisted.append(address)
            return "451 4.7.1 Greylisted, please try again later"
        return await accept(server, session, envelope, address, rcpt_options)

    monkeypatch.setattr(smtp_sink.handler, "handle_RCPT", greylist_once)
    workers.start(
        env={
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_sink.port),
        }
    )
    subscriber = SubscriberFactory(status="pending", email="grey@example.org")
    send_subscriber_email_task.delay(subscriber.pk, "confirm")
    deadline = time.monotonic() + 30  # the first retry waits up to 5 s (backoff, jitter)
    while not smtp_sink.to("grey@example.org") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert greylisted == ["grey@example.org"]
    (message,) = smtp_sink.to("grey@example.org")
    assert message["Subject"] == "Confirm your Paper Digest subscription"


def test_it_does_not_retry_an_address_the_mail_server_refuses(smtp_sink):
    from lib.emails import PermanentSendError

    smtp_sink.handler.refuse.add("nobody@example.org")
    subscriber = SubscriberFactory(status="pending", email="nobody@example.org")
    with pytest.raises(PermanentSendError, match="550"):
        send_subscriber_email_task.delay(subscriber.pk, "confirm").get()
    assert smtp_sink.messages == []
