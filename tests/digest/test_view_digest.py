from __future__ import annotations

import pytest
from django.urls import reverse

from digest.delivery import sending
from digest.delivery.links import make_view_token
from digest.models import Delivery
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(mailoutbox):
    PaperFactory(title="Global channel pruning")
    SubscriberFactory(query="pruning")
    edition = sending.plan_edition("daily", any_hour=True)
    for ids in sending.dispatch(edition):
        sending.send_chunk(ids)
    return Delivery.objects.get()


def test_view_in_browser_shows_the_sent_digest(client, delivery):
    response = client.get(reverse("view_digest", args=[make_view_token(delivery)]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Global channel" in page and "pruning</mark>" in page
    assert "1 new paper on your topics" in page
    assert "script-src" not in response["Content-Security-Policy"]  # default-src 'none' covers it
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_view_in_browser_links_die_with_the_subscribers_other_links(client, delivery):
    token = make_view_token(delivery)
    delivery.subscriber.restart("signed up again")
    assert client.get(reverse("view_digest", args=[token])).status_code == 400


def test_a_forged_view_link_is_refused(client, delivery):
    token = make_view_token(delivery)
    assert client.get(reverse("view_digest", args=[token[:-2] + "xx"])).status_code == 400
