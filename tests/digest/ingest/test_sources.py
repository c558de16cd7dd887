from __future__ import annotations

import json
import re
import time

import pytest

from digest.ingest import readers, sources
from digest.models import FetchLog, Paper, Source
from digest.tasks import ingest_all_task, ingest_source_task
from tests.support.feedgen import arxiv_rss, hf_daily, load_papers, synthetic_papers
from tests.support.races import run_at_once

pytestmark = pytest.mark.django_db

SEED = load_papers()


def make_source(
    name: str = "arXiv cs.LG",
    url: str = "https://rss.arxiv.org/rss/cs.LG",
    kind: str = Source.Kind.ARXIV_RSS,
) -> Source:
    return Source.objects.create(name=name, url=url, kind=kind)


def test_it_stores_new_papers_with_first_seen_and_source(data_dir):
    source = make_source()
    result = sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml", source=source)
    assert (result.new, result.updated, result.unchanged, result.rejected) == (12, 0, 0, 0)
    paper = Paper.objects.get(arxiv_id=SEED[0]["arxiv_id"])
    assert paper.source == source
    assert paper.title == SEED[0]["title"]
    assert paper.authors == SEED[0]["authors"]
    assert paper.first_seen_at is not None


def test_reingesting_the_same_bytes_for_a_source_does_no_work(
    data_dir, django_assert_max_num_queries
):
    source = make_source()
    path = data_dir / "feeds" / "arxiv-rss.xml"
    sources.ingest_file(path, source=source)
    with django_assert_max_num_queries(3):  # source update + fetch log, no paper queries
        again = sources.ingest_file(path, source=source)
    assert again.status == Source.Status.NOT_MODIFIED


def test_reingesting_without_a_source_compares_and_writes_nothing(data_dir):
    path = data_dir / "feeds" / "arxiv-rss.xml"
    sources.ingest_file(path)
    before = dict(Paper.objects.values_list("key", "updated_at"))
    again = sources.ingest_file(path)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 12)
    assert dict(Paper.objects.values_list("key", "updated_at")) == before


def test_the_same_paper_from_two_sources_is_one_paper_and_upvotes_arrive(data_dir):
    rss_source = make_source()
    hf_source = make_source("HF", "https://huggingface.co/api/daily_papers", Source.Kind.HF_DAILY)
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml", source=rss_source)
    result = sources.ingest_file(data_dir / "feeds" / "hf-daily.json", source=hf_source)
    assert (result.new, result.updated) == (2, 4)  # seed papers 8..13; 8..11 were in the RSS
    paper = Paper.objects.get(arxiv_id=SEED[9]["arxiv_id"])
    assert paper.source == rss_source
    assert paper.upvotes == SEED[9]["upvotes"]
    assert Paper.objects.filter(arxiv_id=SEED[9]["arxiv_id"]).count() == 1


def test_abs_pdf_http_and_https_links_are_one_paper(data_dir):
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")  # https://arxiv.org/abs/ID
    result = sources.ingest_file(
        data_dir / "feeds" / "generic-atom.xml"
    )  # http://www.arxiv.org/pdf/IDv1.pdf
    assert result.unchanged + result.updated == 2
    assert Paper.objects.filter(arxiv_id=SEED[1]["arxiv_id"]).count() == 1


def test_upvotes_update_on_the_next_daily_list():
    papers = [dict(SEED[0], upvotes=5)]
    sources.ingest_body(hf_daily(papers).encode(), label="day 1", kind="hf-daily")
    result = sources.ingest_body(
        hf_daily([dict(SEED[0], upvotes=42)]).encode(), label="day 2", kind="hf-daily"
    )
    assert result.updated == 1
    assert Paper.objects.get().upvotes == 42


def test_a_replace_announcement_with_a_newer_version_updates_the_paper():
    v1 = dict(SEED[0], version=1)
    v2 = dict(
        SEED[0], version=2, title=SEED[0]["title"] + " (extended)", abstract="Revised abstract."
    )
    sources.ingest_body(arxiv_rss([v1]).encode(), label="monday", kind="arxiv-rss")
    first_seen = Paper.objects.get().first_seen_at
    result = sources.ingest_body(
        arxiv_rss([v2], announce_types=("replace",)).encode(), label="tuesday", kind="arxiv-rss"
    )
    paper = Paper.objects.get()
    assert result.updated == 1
    assert (paper.version, paper.abstract, paper.announce_type) == (
        2,
        "Revised abstract.",
        "replace",
    )
    assert paper.title.endswith("(extended)")
    assert paper.first_seen_at == first_seen  # a revision is not a new paper


def test_an_older_version_arriving_later_does_not_roll_back():
    sources.ingest_body(
        arxiv_rss([dict(SEED[0], version=3, abstract="v3 text")]).encode(), label="a"
    )
    sources.ingest_body(
        arxiv_rss([dict(SEED[0], version=1, abstract="v1 text")]).encode(), label="b"
    )
    assert Paper.objects.get().abstract == "v3 text"


def test_duplicate_entries_within_one_feed_become_one_paper():
    body = arxiv_rss(
        [dict(SEED[0], version=1), dict(SEED[0], version=2, abstract="newer")]
    ).encode()
    result = sources.ingest_body(body, label="dupes", kind="arxiv-rss")
    assert result.new == 1
    assert Paper.objects.get().abstract == "newer"


def test_a_broken_document_loses_nothing_and_is_recorded(data_dir):
    source = make_source()
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml", source=source)
    stored = list(Paper.objects.order_by("key").values_list("key", "title", "abstract"))
    result = sources.ingest_body(
        b"<html><body>maintenance</body></html>", label=source.name, kind=source.kind, source=source
    )
    assert "HTML web page" in result.error
    assert list(Paper.objects.order_by("key").values_list("key", "title", "abstract")) == stored
    source.refresh_from_db()
    assert (source.last_status, source.consecutive_failures) == (Source.Status.ERROR, 1)
    assert "HTML web page" in source.last_error
    assert FetchLog.objects.filter(source=source, status=Source.Status.ERROR).count() == 1


def test_rejected_entries_are_counted_and_explained():
    body = json.dumps(
        [
            {"paper": {"id": "2403.00001", "title": "Fine"}},
            {"paper": {"id": "2403.00002", "title": ""}},
        ]
    ).encode()
    result = sources.ingest_body(body, label="hf", kind="hf-daily")
    assert (result.new, result.rejected) == (1, 1)
    assert result.notes == ("entry 2: no title",)
    assert FetchLog.objects.get().notes == "entry 2: no title"


def test_hostile_titles_are_stored_as_plain_text():
    paper = dict(SEED[0], title="<script>alert(1)</script><b>Bold</b> claim")
    sources.ingest_body(arxiv_rss([paper]).encode(), label="x", kind="arxiv-rss")
    assert Paper.objects.get().title == "Bold claim"


def test_ten_thousand_entries_are_stored_in_bulk(django_assert_max_num_queries):
    body = arxiv_rss(synthetic_papers(10_000)).encode()
    # Bulk: a few hundred statements at most (SQLite caps variables per INSERT), not one per paper.
    with django_assert_max_num_queries(250):
        result = sources.ingest_body(body, label="big", kind="arxiv-rss")
    assert result.new == 10_000
    assert Paper.objects.count() == 10_000


# --- the sources that carried each paper -------------------------------------------------------


def _carriers(arxiv_id: str) -> set[str]:
    return set(Paper.objects.get(arxiv_id=arxiv_id).sources.values_list("name", flat=True))


def test_every_source_that_carries_a_paper_is_recorded(data_dir):
    rss_source = make_source()
    hf_source = make_source("HF", "https://huggingface.co/api/daily_papers", Source.Kind.HF_DAILY)
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml", source=rss_source)
    sources.ingest_file(data_dir / "feeds" / "hf-daily.json", source=hf_source)

    assert _carriers(SEED[9]["arxiv_id"]) == {"arXiv cs.LG", "HF"}  # in both feeds
    assert _carriers(SEED[0]["arxiv_id"]) == {"arXiv cs.LG"}
    assert _carriers(SEED[13]["arxiv_id"]) == {"HF"}  # first brought by HF
    assert Paper.objects.get(arxiv_id=SEED[9]["arxiv_id"]).source == rss_source  # still first


def test_a_source_carrying_a_paper_again_is_recorded_once(data_dir):
    source = make_source()
    papers = [dict(p, upvotes=None) for p in SEED[:3]]
    sources.ingest_body(arxiv_rss(papers).encode(), label="day 1", source=source)
    revised = [dict(papers[0], version=papers[0]["version"] + 1), *papers[1:]]
    sources.ingest_body(arxiv_rss(revised).encode(), label="day 2", source=source)

    assert Paper.sources.through.objects.filter(source=source).count() == 3


def test_a_file_with_a_source_records_it_and_one_without_records_none(data_dir):
    from io import StringIO

    from django.core.management import call_command

    make_source()
    feeds = data_dir / "feeds"
    call_command("ingest", "--file", str(feeds / "generic-rss.xml"), stdout=StringIO())
    call_command(
        "ingest",
        "--file",
        str(feeds / "arxiv-rss.xml"),
        "--source",
        "arXiv cs.LG",
        stdout=StringIO(),
    )

    carried = set(Paper.sources.through.objects.values_list("paper__key", flat=True))
    assert carried == set(
        Paper.objects.filter(source__name="arXiv cs.LG").values_list("key", flat=True)
    )
    assert Paper.objects.filter(source=None).exists()  # from the file without a source
    assert not Paper.objects.filter(source=None, sources__isnull=False).exists()


def test_seed_papers_fetched_for_a_reader_record_no_source():
    sources.store_papers([readers.PaperData(key="arxiv:2403.00001", title="A seed")], listed=False)

    assert not Paper.sources.through.objects.exists()


def test_carriers_are_recorded_in_one_batched_insert_not_one_per_paper():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    source = make_source()
    body = arxiv_rss(synthetic_papers(1_200)).encode()
    with CaptureQueriesContext(connection) as queries:
        result = sources.ingest_body(body, label="big", source=source)
    unchanged = arxiv_rss(synthetic_papers(1_200)[:1_199]).encode()
    with CaptureQueriesContext(connection) as again:
        sources.ingest_body(unchanged, label="again", source=source)

    # INSERT OR IGNORE on SQLite, INSERT … ON CONFLICT DO NOTHING on PostgreSQL.
    inserts = [q for q in queries if re.match(r'INSERT .*"digest_paper_sources"', q["sql"])]
    assert result.new == 1_200
    assert Paper.sources.through.objects.filter(source=source).count() == 1_200
    assert len(inserts) == 3  # 500 rows a statement
    # Its own papers carried again need no row: they got theirs when first stored.
    assert not [q for q in again if "digest_paper_sources" in q["sql"]]


def test_the_migration_seeds_carriers_from_each_papers_first_source():
    from importlib import import_module

    from django.apps import apps

    source = make_source()
    first = Paper.objects.create(key="arxiv:2403.00001", title="First", source=source)
    Paper.objects.create(key="arxiv:2403.00002", title="From a file")
    migration = import_module("digest.migrations.0013_paper_sources")

    migration.seed_from_first_source(apps, None)
    migration.seed_from_first_source(apps, None)  # again: nothing doubles

    assert list(Paper.sources.through.objects.values_list("paper", "source")) == [
        (first.pk, source.pk)
    ]


# --- fetching sources ----------------------------------------------------------------------------


def test_ingest_source_uses_conditional_get_the_second_time(feed_server, data_dir):
    body = (data_dir / "feeds" / "arxiv-rss.xml").read_bytes()
    source = make_source(url=feed_server.route("/rss/cs.LG", body=body, etag='"abc"'))
    assert sources.ingest_source(source).new == 12
    second = sources.ingest_source(source)
    assert second.status == Source.Status.NOT_MODIFIED
    assert feed_server.seen[1].headers["If-None-Match"] == '"abc"'
    source.refresh_from_db()
    assert (source.etag, source.last_status) == ('"abc"', Source.Status.NOT_MODIFIED)


def test_failures_count_up_and_success_resets(feed_server, data_dir):
    source = make_source(url=feed_server.route("/rss", status=503, body=b"busy"))
    sources.ingest_source(source)
    sources.ingest_source(source)
    source.refresh_from_db()
    assert source.consecutive_failures == 2
    assert source.last_error.startswith("HTTP 503")
    feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    sources.ingest_source(source)
    source.refresh_from_db()
    assert (source.consecutive_failures, source.last_error, source.last_status) == (0, "", "ok")


def test_one_broken_source_does_not_stop_the_others(feed_server, data_dir):
    make_source("broken", feed_server.route("/down", status=500))
    make_source(
        "html", feed_server.route("/page", body=b"<html><body>hi</body></html>"), Source.Kind.FEED
    )
    make_source(
        "good", feed_server.route("/ok", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    )
    ingest_all_task.delay()
    statuses = dict(Source.objects.values_list("name", "last_status"))
    assert statuses == {"broken": "error", "html": "error", "good": "ok"}
    assert Paper.objects.count() == 12


def test_a_source_whose_content_changed_after_an_edit_is_refetched_in_full(feed_server, data_dir):
    source = make_source(
        url=feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    )
    sources.ingest_source(source)
    source.forget_validators()
    assert sources.ingest_source(source).unchanged == 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ingests_of_one_feed_store_each_paper_once():
    papers = readers.parse(arxiv_rss(SEED).encode(), "arxiv-rss").papers
    assert run_at_once(lambda: sources.store_papers(papers)) == []
    assert Paper.objects.count() == len(SEED)


def test_a_source_set_to_the_wrong_kind_is_refused_with_a_clear_message(feed_server, data_dir):
    url = feed_server.route("/rss", body=(data_dir / "feeds" / "arxiv-rss.xml").read_bytes())
    source = make_source(url=url, kind=Source.Kind.FEED)
    result = sources.ingest_source(source)
    assert result.error.startswith("this is an arXiv RSS listing, not an RSS or Atom feed: set")
    assert Paper.objects.count() == 0
    source.refresh_from_db()
    assert source.last_status == Source.Status.ERROR


def test_an_ingest_task_on_a_dripping_source_ends_at_the_fetch_deadline(feed_server, settings):
    settings.FETCH_TIMEOUT_SECONDS = 2
    source = make_source(url=feed_server.route("/slow", drip_headers=0.5))
    started = time.monotonic()
    summary = ingest_source_task.delay(source.pk).get()
    assert time.monotonic() - started < 4
    assert summary.startswith("arXiv cs.LG: no response from")
