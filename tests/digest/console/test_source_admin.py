"""The Source admin: test fetch (POST only, change permission, same verdicts as ingest, the
fetch deadline) and the kind, detected unless chosen, refused when it does not match."""

from __future__ import annotations

import time

import pytest
from celery.result import AsyncResult
from django.contrib.auth.models import Group
from django.urls import reverse

from digest.ingest import sources
from digest.models import Paper, Source
from digest.tasks import ingest_source_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def rss(data_dir) -> bytes:
    return (data_dir / "feeds" / "arxiv-rss.xml").read_bytes()


def page_of(source: Source) -> str:
    return reverse("admin:digest_source_test_fetch", args=[source.pk])


def add_source(client, url: str, kind: str = "auto"):
    return client.post(
        reverse("admin:digest_source_add"),
        {"name": "new source", "url": url, "kind": kind, "enabled": "on"},
    )


def test_it_offers_a_button_on_get_and_fetches_only_on_post(admin_client, feed_server, rss):
    source = Source.objects.create(name="cs.LG", url=feed_server.route("/rss", body=rss))
    page = admin_client.get(page_of(source)).content.decode()
    assert '<form method="post"' in page and "Fetch and show what would be ingested" in page
    assert feed_server.seen == []
    source.kind = "arxiv-rss"
    source.save()
    page = admin_client.post(page_of(source)).content.decode()
    assert "12 would be new" in page
    assert len(feed_server.seen) == 1


def test_viewers_cannot_make_the_server_fetch(client, django_user_model, feed_server, rss):
    viewer = django_user_model.objects.create_user("viewer", password="a-long-pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client.force_login(viewer)
    source = Source.objects.create(name="cs.LG", url=feed_server.route("/rss", body=rss))
    assert client.get(page_of(source)).status_code == 403
    assert client.post(page_of(source)).status_code == 403
    client.post(
        reverse("admin:digest_source_changelist"),
        {"action": "test_fetch", "_selected_action": [source.pk]},
    )
    assert feed_server.seen == []


def test_it_says_unchanged_where_a_real_fetch_would_find_papers_unchanged(
    admin_client, feed_server, rss
):
    source = Source.objects.create(
        name="cs.LG", url=feed_server.route("/rss", body=rss), kind="arxiv-rss"
    )
    sources.ingest_source(source)
    page = admin_client.post(page_of(source)).content.decode()
    assert "0 would be new, 0 updated, 12 unchanged" in page
    assert "Not modified since the last fetch" in page
    assert ">updated<" not in page


def test_the_operator_sees_why_an_internal_address_is_refused_never_its_answer(
    admin_client, feed_server, settings
):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    url = feed_server.route("/status", body=b"<rss><channel><title>SECRET db=up</title></rss>")
    source = Source.objects.create(name="internal", url=url)
    page = admin_client.post(page_of(source)).content.decode()
    assert "refused: 127.0.0.1 is a loopback address" in page
    assert "SECRET" not in page
    assert feed_server.seen == []


def test_a_dripping_source_does_not_hold_the_page_past_the_deadline(
    admin_client, feed_server, settings
):
    settings.FETCH_TIMEOUT_SECONDS = 2
    source = Source.objects.create(name="slow", url=feed_server.route("/", drip_headers=0.5))
    started = time.monotonic()
    page = admin_client.post(page_of(source)).content.decode()
    assert time.monotonic() - started < 4
    assert "The fetch failed: no response from" in page


def test_fetch_now_says_it_queued_when_a_worker_will_fetch(admin_client, monkeypatch):
    sent: list[int] = []

    def send_to_broker(pk: int) -> AsyncResult:
        sent.append(pk)
        return AsyncResult(f"ingest-{pk}")

    monkeypatch.setattr(ingest_source_task, "delay", send_to_broker)
    source = Source.objects.create(name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG")
    response = admin_client.post(
        reverse("admin:digest_source_changelist"),
        {"action": "fetch_now", "_selected_action": [source.pk]},
        follow=True,
    )
    assert "Queued 1 source(s) for fetching by a worker" in response.content.decode()
    assert sent == [source.pk]


# --- the kind ------------------------------------------------------------------------------


def test_a_well_known_address_gets_its_kind_without_a_fetch(admin_client, feed_server):
    response = add_source(admin_client, "https://rss.arxiv.org/rss/cs.LG+cs.CV")
    assert response.status_code == 302
    assert Source.objects.get().kind == "arxiv-rss"


def test_any_other_address_gets_the_kind_of_what_it_serves(admin_client, feed_server, data_dir):
    body = (data_dir / "feeds" / "hf-daily.json").read_bytes()
    response = add_source(admin_client, feed_server.route("/papers.json", body=body))
    assert response.status_code == 302
    assert Source.objects.get().kind == "hf-daily"


def test_an_arxiv_address_saved_as_a_plain_feed_is_refused(admin_client):
    response = add_source(admin_client, "https://rss.arxiv.org/rss/cs.LG", kind="feed")
    page = response.content.decode()
    assert response.status_code == 200
    assert "This address serves an arXiv RSS listing: choose “arXiv RSS listing”" in page
    assert not Source.objects.exists()


def test_detection_that_cannot_fetch_says_why(admin_client, feed_server):
    response = add_source(admin_client, feed_server.route("/gone", status=404))
    assert "Could not detect the kind: HTTP 404" in response.content.decode()
    assert not Source.objects.exists()


def test_a_stored_arxiv_listing_with_the_wrong_kind_fails_its_fetch_and_stores_nothing(
    admin_client, feed_server, rss
):
    source = Source.objects.create(name="cs.LG", url=feed_server.route("/rss", body=rss))
    page = admin_client.post(page_of(source)).content.decode()
    assert "this is an arXiv RSS listing, not an RSS or Atom feed" in page
    assert Paper.objects.count() == 0
