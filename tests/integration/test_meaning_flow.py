"""Seed papers → ingest → the embedding task → an edition → an email that says why, with the
packaged model: in process, and through real Celery workers, PostgreSQL and an SMTP sink."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils.html import escape

from digest.delivery.links import view_url
from digest.ingest import sources
from digest.matching.seeds import parse_seed_text
from digest.models import Delivery, Paper
from digest.tasks import embed_papers_task, refresh_profile_task, send_edition_task
from subscribers import subscriptions
from subscribers.models import Subscriber
from tests.integration.test_edition_flow import unfinished, wait_for, worker_env

SEED = "2403.05470"  # on the arXiv API fixture; taken out of the stored papers below


@pytest.fixture
def library(db, feed_server, settings, data_dir):
    """The sample listing stored, the seed paper not: the arXiv API (a loopback fixture)
    has it."""
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    Paper.objects.filter(key=f"arxiv:{SEED}").delete()
    body = (data_dir / "feeds" / "arxiv-api.xml").read_bytes()
    feed_server.route(f"/api/query?id_list={SEED}&max_results=1", body=body)
    settings.ARXIV_API_URL = feed_server.url("/api/query")
    return feed_server


def seeded_reader() -> Subscriber:
    reader = subscriptions.subscribe(
        "reader@example.org",
        query="-survey",
        frequency="daily",
        per_email=5,
        seeds=parse_seed_text(SEED).refs,
    )
    subscriptions.confirm(reader)  # seeds are fetched for confirmed readers only
    return reader


def test_a_reader_with_only_a_seed_paper_gets_papers_like_it_and_why(library, mailoutbox, client):
    reader = seeded_reader()
    refresh_profile_task.delay(reader.pk)  # fetches the unknown seed, embeds it
    embed_papers_task.delay()
    seed = Paper.objects.get(key=f"arxiv:{SEED}")
    assert seed.embedding is not None and not seed.listed
    call_command("send_digests", "--now", stdout=io.StringIO())
    (message,) = mailoutbox
    text = message.body
    assert f"similar to “{seed.title}”" in text
    assert seed.title not in text.split("similar to")[0], "the seed itself is never sent back"
    assert "matched:" not in text, "no keywords: nothing to highlight or name"
    assert "survey" not in text.lower().replace("-survey", "")
    assert "papers like the ones you picked" in text
    # The view-in-browser page rebuilds the same papers with the same why.
    page = client.get(view_url(Delivery.objects.get(subscriber=reader))).content.decode()
    assert f"similar to “{seed.title}”" in page


@pytest.mark.redis
@pytest.mark.postgres
def test_the_same_flow_through_real_workers_and_smtp(library, workers, smtp_sink):
    reader = seeded_reader()
    workers.start(concurrency=1, env=worker_env(smtp_sink, ARXIV_API_URL=library.url("/api/query")))
    refresh_profile_task.delay(reader.pk)
    wait_for(lambda: Subscriber.objects.get(pk=reader.pk).profile is not None, what="profile")
    embed_papers_task.delay()
    wait_for(lambda: not Paper.objects.visible().filter(embedding=None).exists(), what="vectors")
    send_edition_task.delay("daily", any_hour=True)
    wait_for(lambda: Delivery.objects.exists() and not unfinished(), what="the edition")
    (message,) = smtp_sink.to("reader@example.org")
    seed = Paper.objects.get(key=f"arxiv:{SEED}")
    assert f"similar to “{seed.title}”" in message.get_body(("plain",)).get_content()


def test_view_in_browser_shows_every_delivered_paper_after_the_reader_changed(
    library, mailoutbox, client
):
    reader = seeded_reader()
    refresh_profile_task.delay(reader.pk)
    embed_papers_task.delay()
    call_command("send_digests", "--now", stdout=io.StringIO())
    delivery = Delivery.objects.get(subscriber=reader)
    sent = [Paper.objects.get(pk=pk).title for pk in delivery.paper_ids]
    # They drop their seeds and keep only keywords; the digest they got stays as it was.
    subscriptions.update_preferences(
        reader, query="pruning", frequency="daily", per_email=5, paused=False, seeds=[]
    )
    page = client.get(view_url(delivery))
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(escape(title)) for title in sent]
    assert positions == sorted(positions), "the same papers, in the order sent"


def test_an_ingest_queues_the_embedding_of_what_it_stored(feed_server, data_dir, db):
    from digest.models import Source
    from digest.tasks import ingest_source_task

    url = feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    source = Source.objects.create(name="arXiv", url=url, kind=Source.Kind.ARXIV_RSS)
    ingest_source_task.delay(source.pk)
    assert Paper.objects.exists()
    assert not Paper.objects.filter(embedding=None).exists(), "every new paper has its vector"
