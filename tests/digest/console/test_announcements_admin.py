"""Announcements in the admin: written, previewed with inert links, sent once on a second click by
someone allowed to, then read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from digest.models import Announcement
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:digest_announcement_changelist")


def send(client, note: Announcement, **extra):
    data = {"action": "send", "_selected_action": [note.pk], **extra}
    return client.post(CHANGELIST, data, follow=True)


@pytest.fixture
def note():
    return Announcement.objects.create(subject="New: send times", body="Pick your hour.")


def test_an_operator_writes_one_and_it_records_who(client, staff):
    client.force_login(staff("operator"))
    response = client.post(
        reverse("admin:digest_announcement_add"),
        {"subject": "Hello", "body": "Line one.\n\nLine two."},
    )
    assert response.status_code == 302
    assert Announcement.objects.get().created_by == "operator-user"


def test_sending_asks_first_then_mails_every_receiving_subscriber_once(
    client, staff, note, mailoutbox
):
    readers = {SubscriberFactory().email for _ in range(3)}
    SubscriberFactory(paused=True)
    client.force_login(staff("operator"))
    asked = send(client, note).content.decode()
    assert "every receiving subscriber (3 now" in asked and not mailoutbox
    done = send(client, note, confirmed="yes").content.decode()
    assert "Sending 1 announcement(s) to 3 subscribers." in done
    assert {m.to[0] for m in mailoutbox} == readers
    send(client, note, confirmed="yes")  # sent already: not again
    assert len(mailoutbox) == 3
    note.refresh_from_db()
    listed = client.get(CHANGELIST).content.decode()
    assert "3 sent" in listed


def test_a_viewer_can_read_but_not_send(client, staff, note, mailoutbox):
    SubscriberFactory()
    client.force_login(staff("viewer"))
    assert client.get(CHANGELIST).status_code == 200
    send(client, note, confirmed="yes")
    assert not mailoutbox
    assert not note.deliveries.exists()


def test_a_sent_announcement_is_read_only(client, staff, note):
    SubscriberFactory()
    client.force_login(staff("operator"))
    send(client, note, confirmed="yes")
    url = reverse("admin:digest_announcement_change", args=[note.pk])
    client.post(url, {"subject": "Changed afterwards", "body": "…"})
    note.refresh_from_db()
    assert note.subject == "New: send times"


def test_the_preview_and_the_as_sent_page_carry_no_live_links(client, staff, note):
    reader = SubscriberFactory()
    client.force_login(staff("operator"))
    preview = client.get(reverse("admin:digest_announcement_preview", args=[note.pk]))
    assert "Pick your hour." in preview.content.decode()
    assert "/unsubscribe/" not in preview.content.decode()
    send(client, note, confirmed="yes")
    delivery = reader.deliveries.get()
    page = client.get(reverse("admin:digest_delivery_as_sent", args=[delivery.pk]))
    assert page.status_code == 200 and "Pick your hour." in page.content.decode()
    assert "/unsubscribe/" not in page.content.decode()
    assert "/manage/" not in page.content.decode()


def test_once_its_sending_is_clicked_it_can_no_longer_be_edited(client, staff, note, monkeypatch):
    from digest.console import announcements

    queued = []
    monkeypatch.setattr(announcements.send_announcement_task, "delay", queued.append)
    SubscriberFactory()
    client.force_login(staff("operator"))
    send(client, note, confirmed="yes")  # queued, and no worker has planned it yet
    send(client, note, confirmed="yes")  # a second click queues nothing
    assert queued == [note.pk]
    url = reverse("admin:digest_announcement_change", args=[note.pk])
    client.post(url, {"subject": "Changed while it goes out", "body": "…"})
    note.refresh_from_db()
    assert note.subject == "New: send times" and note.planned_at is None
