from __future__ import annotations

import pytest
from django.urls import reverse

from digest.models import Paper, Source
from tests.support.links import assert_no_live_links

pytestmark = pytest.mark.django_db


def test_source_list_shows_health_and_error(admin_client):
    Source.objects.create(
        name="down",
        url="https://example.org/rss",
        last_status="error",
        last_error="HTTP 503 Service Unavailable from https://example.org/rss",
    )
    response = admin_client.get(reverse("admin:digest_source_changelist"))
    assert response.status_code == 200
    assert "HTTP 503 Service Unavailable" in response.content.decode()


def test_fetch_now_ingests_the_selected_sources(admin_client, feed_server, data_dir):
    url = feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    source = Source.objects.create(name="cs.LG", url=url, kind="arxiv-rss")
    response = admin_client.post(
        reverse("admin:digest_source_changelist"),
        {"action": "fetch_now", "_selected_action": [source.pk]},
        follow=True,
    )
    page = response.content.decode()
    # Tasks run in-process here: the fetch has happened, and the message says how it went.
    assert "Fetched cs.LG: 12 new, 0 updated, 0 unchanged, 0 rejected" in page
    assert "Queued" not in page
    assert Paper.objects.count() == 12


def test_paper_search_finds_title_words_and_authors(admin_client, data_dir):
    from digest.ingest import sources

    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    url = reverse("admin:digest_paper_changelist")
    assert "Global Channel Pruning" in admin_client.get(url, {"q": "pruning"}).content.decode()
    author = Paper.objects.first().authors[0]
    assert admin_client.get(url, {"q": author}).status_code == 200


def test_admin_is_refused_to_non_staff(client, django_user_model):
    user = django_user_model.objects.create_user("reader", password="x-long-password")
    client.force_login(user)
    response = client.get(reverse("admin:digest_source_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_editions_show_their_delivery_counts(admin_client, mailoutbox):
    from digest.delivery import sending
    from tests.factories import PaperFactory, SubscriberFactory

    PaperFactory(title="Pruning")
    SubscriberFactory(query="pruning")
    SubscriberFactory(query="quantum chemistry")
    edition = sending.plan_edition("daily", any_hour=True)
    for ids in sending.dispatch(edition):
        sending.send_chunk(ids)
    page = admin_client.get(reverse("admin:digest_edition_changelist")).content.decode()
    assert edition.label in page
    assert '<td class="field-sent">1</td><td class="field-skipped">1</td>' in page
    delivery = edition.deliveries.get(status="sent")
    detail = admin_client.get(reverse("admin:digest_delivery_change", args=[delivery.pk]))
    assert "View the email as sent" in detail.content.decode()


def test_it_shows_a_delivery_as_sent_without_the_subscribers_live_links(admin_client):
    from digest.delivery import sending
    from tests.factories import PaperFactory, SubscriberFactory

    PaperFactory(title="Global channel pruning")
    subscriber = SubscriberFactory(query="pruning")
    edition = sending.plan_edition("daily", any_hour=True)
    (chunk,) = sending.dispatch(edition)
    sending.send_chunk(chunk)
    delivery = edition.deliveries.get(status="sent")

    detail = admin_client.get(reverse("admin:digest_delivery_change", args=[delivery.pk]))
    as_sent = admin_client.get(reverse("admin:digest_delivery_as_sent", args=[delivery.pk]))

    assert_no_live_links(detail.content.decode(), subscriber, delivery)
    assert reverse("admin:digest_delivery_as_sent", args=[delivery.pk]) in detail.content.decode()
    html = as_sent.content.decode()
    assert as_sent.status_code == 200 and "Global channel pruning" in html
    assert "links, disabled in previews" in html
    assert_no_live_links(html, subscriber, delivery)
