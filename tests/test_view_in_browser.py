from __future__ import annotations

import pytest
from django.urls import reverse

from digest.delivery import previews, sending
from digest.delivery.links import make_view_token
from subscribers.models import Subscriber
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery():
    SubscriberFactory(email="ada@example.org", query="pruning")
    PaperFactory(title="Global channel pruning")
    (planned,) = sending.plan_edition("daily", any_hour=True).deliveries.all()
    sending.send_chunk([planned.pk])
    planned.refresh_from_db()
    return planned


def view_path(delivery) -> str:
    return reverse("view_digest", args=[make_view_token(delivery)])


def test_it_shows_the_subscribers_links_only_with_a_notice_not_to_forward(client, delivery):
    page = client.get(view_path(delivery)).content.decode()
    assert "/unsubscribe/" in page and "/manage/" in page
    assert "manage the subscription of ada@example.org" in page
    assert "don't forward" in page
    assert "don't forward" not in previews.delivered_digest(delivery).body  # the page only


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_it_refuses_the_page_once_the_address_gets_no_more_email(client, delivery, status):
    Subscriber.objects.filter(pk=delivery.subscriber_id).update(status=status)
    response = client.get(view_path(delivery))
    assert response.status_code == 410
    page = response.content.decode()
    assert "/unsubscribe/" not in page and "ada@example.org" not in page
    assert "no longer available" in page
