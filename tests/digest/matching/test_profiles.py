"""Papers' vectors and readers' profiles with the packaged model: embedded once, redone when
the text or the model changes; seeds resolved, fetched, kept with their date; the profile
made again when what it is made of changes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from digest.ingest import sources
from digest.ingest.readers import PaperData
from digest.matching import profiles, vectors
from digest.matching.embeddings import unpack
from digest.matching.seeds import SeedRef, parse_seed_text
from digest.models import Paper
from subscribers.models import SeedPaper
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return vectors.embedder()


def data(key: str, title: str, abstract: str = "An abstract.", version: int = 1) -> PaperData:
    arxiv_id = key.removeprefix("arxiv:")
    return PaperData(key=key, title=title, abstract=abstract, arxiv_id=arxiv_id, version=version)


def test_papers_are_embedded_once_and_again_only_when_their_text_changes(model):
    sources.store_papers(
        [data("arxiv:2401.00001", "Federated learning"), data("arxiv:2401.00002", "Pruning")]
    )
    assert len(vectors.embed_pending(model)) == 2
    assert vectors.embed_pending(model) == [], "nothing left: a second run costs nothing"
    sources.store_papers(
        [data("arxiv:2401.00001", "Federated learning"), data("arxiv:2401.00002", "Pruning")]
    )
    assert vectors.embed_pending(model) == [], "unchanged on re-ingest: the vectors stay"
    sources.store_papers([data("arxiv:2401.00002", "Pruning", "A new abstract.", version=2)])
    changed = Paper.objects.get(key="arxiv:2401.00002")
    assert changed.embedding is None and changed.embedded_with == ""
    assert vectors.embed_pending(model) == [changed.pk]


def test_a_new_model_embeds_every_paper_again(model):
    PaperFactory.create_batch(3)
    vectors.embed_pending(model)
    Paper.objects.update(embedded_with="another-model:0123")
    assert len(vectors.embed_pending(model)) == 3


def test_a_paper_changed_while_it_was_embedded_is_left_for_the_next_run(model):
    paper = PaperFactory()
    row = (paper.pk, paper.title, paper.abstract, paper.updated_at)
    paper.title = "Another title"
    paper.save()
    assert vectors.embed_rows(model, [row]) == []
    assert Paper.objects.get(pk=paper.pk).embedding is None


def test_hidden_papers_are_not_embedded(model):
    PaperFactory(hidden=True)
    assert vectors.embed_pending(model) == []


def test_seeds_are_found_by_arxiv_id_doi_or_title_and_keep_their_date(model):
    by_id = PaperFactory()
    by_doi = PaperFactory(key="doi:10.1000/xyz", arxiv_id="")
    by_title = PaperFactory(title="Lottery Tickets in Graph Networks")
    reader = SubscriberFactory()
    refs = [
        SeedRef(arxiv_id=by_id.arxiv_id, label="a"),
        SeedRef(doi="10.1000/xyz", label="b"),
        SeedRef(title="lottery tickets in graph networks", label="c"),
        SeedRef(arxiv_id="2409.99999", label="d"),
    ]
    profiles.set_seeds(reader, refs)
    seeds = {s.label: s for s in SeedPaper.objects.filter(subscriber=reader)}
    assert seeds["a"].paper == by_id and seeds["b"].paper == by_doi
    assert seeds["c"].paper == by_title
    assert seeds["d"].paper is None and seeds["d"].arxiv_id == "2409.99999"
    first_added = seeds["a"].added_at
    profiles.set_seeds(reader, refs[:1])  # saved again: the kept seed keeps its date
    (kept,) = SeedPaper.objects.filter(subscriber=reader)
    assert kept.added_at == first_added


def test_a_profile_is_made_from_seeds_and_interest_and_names_them(model):
    seed = PaperFactory(title="Federated Averaging", abstract="Training across clients.")
    vectors.embed_pending(model)
    reader = SubscriberFactory(query="", interest="privacy-preserving distributed training")
    profiles.set_seeds(reader, [SeedRef(arxiv_id=seed.arxiv_id)])
    assert profiles.refresh(reader, model, fetch=False)
    reader.refresh_from_db()
    assert reader.profile_model == model.name
    vector = unpack(bytes(reader.profile))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-2)
    stored = profiles.stored(reader, model.name)
    assert {s.kind for s in stored.sources} == {"seed", "interest"}
    assert stored.known == {seed.pk}
    assert profiles.stored(reader, "another-model:0123") is None, "by another model: none"


def test_a_seed_embedded_later_and_a_new_model_remake_profiles(model):
    seed = PaperFactory()
    reader = SubscriberFactory(query="")
    profiles.set_seeds(reader, [SeedRef(arxiv_id=seed.arxiv_id)])
    reader.profile_model = "another-model:0123"
    reader.save()
    done = profiles.catch_up(model)
    assert done.embedded == 1 and done.profiles == 1
    reader.refresh_from_db()
    assert reader.profile is not None and reader.profile_model == model.name


@pytest.fixture
def arxiv_api(feed_server, settings, data_dir):
    body = (data_dir / "feeds" / "arxiv-api.xml").read_bytes()
    feed_server.route("/api/query?id_list=2403.05470&max_results=1", body=body)
    settings.ARXIV_API_URL = feed_server.url("/api/query")
    return feed_server


def test_an_unknown_arxiv_seed_is_fetched_unlisted_for_a_confirmed_reader(model, arxiv_api):
    reader = SubscriberFactory(query="")
    profiles.set_seeds(reader, parse_seed_text("2403.05470").refs)
    assert profiles.refresh(reader, model)
    paper = Paper.objects.get(key="arxiv:2403.05470")
    assert not paper.listed, "a seed is not new: no edition, listing or preview shows it"
    assert not Paper.objects.recent(36500).filter(pk=paper.pk).exists()
    assert SeedPaper.objects.get(subscriber=reader).paper == paper


def test_a_seed_paper_a_source_lists_later_is_new_that_day(model, arxiv_api, data_dir):
    reader = SubscriberFactory(query="")
    profiles.set_seeds(reader, parse_seed_text("2403.05470").refs)
    profiles.refresh(reader, model)
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    paper = Paper.objects.get(key="arxiv:2403.05470")
    assert paper.listed and paper.first_seen_at > timezone.now() - timedelta(minutes=1)


def test_fetching_a_seed_never_takes_a_listed_paper_out_of_editions(model, arxiv_api, data_dir):
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    seen = Paper.objects.get(key="arxiv:2403.05470").first_seen_at
    profiles.store_arxiv_papers(["2403.05470"])
    paper = Paper.objects.get(key="arxiv:2403.05470")
    assert paper.listed and paper.first_seen_at == seen


def test_an_unconfirmed_signup_costs_arxiv_nothing(model, arxiv_api):
    reader = SubscriberFactory(query="", status="pending")
    profiles.set_seeds(reader, parse_seed_text("2403.05470").refs)
    profiles.refresh(reader, model)
    assert arxiv_api.seen == []


def test_arxiv_is_asked_once_in_a_while_however_often_readers_save(model, arxiv_api):
    reader = SubscriberFactory(query="")
    profiles.set_seeds(reader, parse_seed_text("2409.99999").refs)  # arXiv has no such paper
    for _ in range(5):
        profiles.refresh(reader, model)
    assert len(arxiv_api.seen) == 1, "one request, then the pause and the day's wait"
    other = SubscriberFactory(query="")
    profiles.set_seeds(other, parse_seed_text("2409.99998").refs)
    profiles.refresh(other, model)
    assert len(arxiv_api.seen) == 1, "at most one request every few seconds from anyone"


def test_a_failing_arxiv_api_leaves_the_seed_for_later(model, feed_server, settings):
    settings.ARXIV_API_URL = feed_server.url("/missing")
    reader = SubscriberFactory(query="")
    profiles.set_seeds(reader, parse_seed_text("2403.05470").refs)
    profiles.refresh(reader, model)
    seed = SeedPaper.objects.get(subscriber=reader)
    assert seed.paper is None and seed.looked_up_at is not None


def test_the_arxiv_api_is_never_asked_for_a_private_address(model, settings):
    settings.FETCH_ALLOW_PRIVATE_NETWORKS = False
    settings.ARXIV_API_URL = "http://127.0.0.1:9/api/query"
    assert profiles.store_arxiv_papers(["2403.05470"]) == 0


def test_a_draft_profile_for_the_preview_saves_and_fetches_nothing(model, feed_server):
    seed = PaperFactory()
    vectors.embed_pending(model)
    draft = profiles.draft(
        "graph learning", [SeedRef(arxiv_id=seed.arxiv_id), SeedRef(arxiv_id="2409.99999")], model
    )
    assert {s.kind for s in draft.sources} == {"seed", "interest"}
    assert draft.known == {seed.pk}
    assert not SeedPaper.objects.exists() and feed_server.seen == []


def test_a_signup_with_seeds_stores_them_and_a_known_address_gets_them_in_the_link(model):
    from subscribers import subscriptions
    from subscribers.tokens import read_confirmation

    seed = PaperFactory()
    refs = [SeedRef(arxiv_id=seed.arxiv_id)]
    new = subscriptions.subscribe(
        "new@example.org", query="", frequency="daily", per_email=5, interest="x", seeds=refs
    )
    # Stored as given (nothing looked up in the request), found by the profile task.
    assert [(s.arxiv_id, s.paper) for s in new.seeds.all()] == [(seed.arxiv_id, None)]
    new.confirm()
    profiles.refresh(new, model)
    assert [s.paper for s in new.seeds.all()] == [seed]
    known = SubscriberFactory(email="known@example.org", status="unsubscribed", query="pruning")
    subscriptions.subscribe(
        "known@example.org", query="", frequency="daily", per_email=5, seeds=refs
    )
    assert not known.seeds.exists(), "nothing of theirs changes before they click"
    from subscribers.tokens import Preferences, make_token

    wanted = dataclasses.replace(Preferences.of(known), query="", seeds=seed.arxiv_id)
    confirmation = read_confirmation(make_token(known, "confirm", wanted))
    subscriptions.confirm(known, confirmation.preferences)
    assert [s.arxiv_id for s in known.seeds.all()] == [seed.arxiv_id]


def test_two_names_of_one_paper_make_one_seed(model):
    paper = PaperFactory(key="arxiv:2401.00009", arxiv_id="2401.00009", title="Same paper")
    reader = SubscriberFactory(query="")
    refs = [SeedRef(arxiv_id="2401.00009"), SeedRef(title="same paper")]
    assert profiles.set_seeds(reader, refs)
    assert [s.paper for s in SeedPaper.objects.filter(subscriber=reader)] == [paper]
    assert not profiles.set_seeds(reader, refs), "saved again unchanged: nothing changed"
