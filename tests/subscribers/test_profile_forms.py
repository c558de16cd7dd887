"""Seed papers and an interest on the signup and preferences pages: keywords optional with
either, files read with clear errors, the preview ranking by the whole profile, and nothing of
anyone else's changed."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from digest.ingest import sources
from digest.matching import recent, vectors
from digest.models import Paper
from subscribers import subscriptions
from subscribers.models import SeedPaper, Subscriber
from subscribers.tokens import make_token
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
SIGNUP = {"email": "ada@example.org", "query": "", "frequency": "daily", "per_email": "10"}
BIBTEX = b"""@article{mcmahan2017,
  title = {Communication-Efficient Learning of Deep Networks from Decentralized Data},
  author = {McMahan, H. Brendan and Moore, Eider},
  eprint = {1602.05629},
  archivePrefix = {arXiv},
  year = {2017}
}
@book{nothing, author = {Nobody}}
"""


@pytest.fixture
def papers(data_dir):
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml")
    vectors.embed_pending(vectors.embedder())
    recent.forget()
    return Paper.objects.all()


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(url: str, data: dict, **files: SimpleUploadedFile):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, {**data, **files})

    return send


def test_a_signup_with_nothing_to_look_for_gets_the_most_upvoted_papers(client):
    response = client.post(reverse("subscribe"), SIGNUP)
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.query == "" and subscriber.wants_top_papers


def test_a_signup_with_an_interest_and_no_keywords_makes_a_profile(
    post, django_capture_on_commit_callbacks
):
    response = post(reverse("subscribe"), {**SIGNUP, "interest": "training across hospitals"})
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.query == "" and subscriber.interest == "training across hospitals"
    assert subscriber.profile is None, "nothing is embedded for an unconfirmed signup"
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions.confirm(subscriber)
    subscriber.refresh_from_db()
    assert subscriber.profile is not None, "confirming queued the profile task"


def test_a_filter_line_needs_a_profile_beside_it(client, post):
    response = client.post(reverse("subscribe"), {**SIGNUP, "query": "-survey"})
    assert "only excludes words" in response.content.decode()
    response = post(reverse("subscribe"), {**SIGNUP, "query": "-survey", "interest": "graphs"})
    assert response.status_code == 302


def test_seeds_typed_and_uploaded_are_kept_with_what_was_skipped(post, client, papers):
    stored = papers.first()
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    library = SimpleUploadedFile("library.bib", BIBTEX, content_type="application/x-bibtex")
    response = post(
        url,
        {"query": "", "frequency": "daily", "per_email": "10", "seeds": stored.arxiv_id},
        library=library,
    )
    assert response.status_code == 302
    seeds = {s.arxiv_id: s for s in SeedPaper.objects.filter(subscriber=reader)}
    assert set(seeds) == {stored.arxiv_id, "1602.05629"}
    assert seeds[stored.arxiv_id].paper == stored
    page = client.get(url).content.decode()
    assert "Entry nothing has no arXiv id, DOI or title." in page
    assert stored.arxiv_id in page, "the box shows the seeds as they are"


def test_a_file_that_is_not_a_library_is_refused_and_nothing_changes(post):
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    junk = SimpleUploadedFile("notes.txt", b"just some notes, nothing else")
    response = post(url, {"query": "", "frequency": "daily", "per_email": "10"}, library=junk)
    assert "not a BibTeX, BibLaTeX or Zotero" in response.content.decode()
    reader.refresh_from_db()
    assert reader.query == "pruning" and not reader.seeds.exists()


def test_a_seed_box_of_nonsense_says_why(client):
    response = client.post(reverse("subscribe"), {**SIGNUP, "seeds": "hello world"})
    assert "is not an arXiv id, arXiv link or DOI" in response.content.decode()


def test_the_preview_ranks_by_the_whole_profile_and_says_why(client, papers):
    seed = papers.filter(title__icontains="federated").first()
    response = client.post(reverse("preview"), {"seeds": seed.arxiv_id})
    html = response.content.decode()
    assert response.status_code == 200
    assert "similar to “" in html
    assert f">{seed.title}<" not in html, "the seed itself is not previewed"


def test_the_preview_is_rate_limited_like_any_other(client, papers, settings):
    settings.PREVIEW_LIMIT_PER_MINUTE = 1
    client.post(reverse("preview"), {"interest": "graphs"})
    response = client.post(reverse("preview"), {"interest": "graph learning"})
    assert response.status_code == 429


def test_a_known_address_signing_up_again_changes_nothing_until_the_link(post):
    known = SubscriberFactory(email="ada@example.org", status="unsubscribed", query="pruning")
    post(reverse("subscribe"), {**SIGNUP, "interest": "something else entirely"})
    known.refresh_from_db()
    assert known.interest == "" and known.query == "pruning"


def test_library_uploads_are_rate_limited_per_network(post, settings):
    settings.LIBRARY_UPLOADS_PER_HOUR = 1
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    fields = {"query": "pruning", "frequency": "daily", "per_email": "10"}
    assert post(url, fields, library=SimpleUploadedFile("a.bib", BIBTEX)).status_code == 302
    response = post(url, fields, library=SimpleUploadedFile("a.bib", BIBTEX))
    assert "Too many uploads from your network" in response.content.decode()


def test_seeds_known_only_by_title_survive_saving_the_page_until_forgotten(post, client):
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    library = SimpleUploadedFile(
        "t.bib", b"@article{a, title = {Lottery Tickets in Graph Networks}, year = {2024}}"
    )
    fields = {"query": "pruning", "frequency": "daily", "per_email": "10"}
    assert post(url, fields, library=library).status_code == 302
    page = client.get(url).content.decode()
    assert "known by title only (1)" in page and "Lottery Tickets in Graph Networks" in page
    assert post(url, fields).status_code == 302, "saving the page as shown works"
    assert [s.title for s in reader.seeds.all()] == ["Lottery Tickets in Graph Networks"]
    assert post(url, {**fields, "forget_titled": "on"}).status_code == 302
    assert not reader.seeds.exists()


def test_the_confirmation_says_what_it_will_apply_seeds_and_interest_included(post):
    from django.core import mail

    post(
        reverse("subscribe"),
        {**SIGNUP, "interest": "graph\u202e learning\u200b  on molecules", "seeds": "2403.05470"},
    )
    (message,) = mail.outbox
    assert "close to this interest: “graph learning on molecules”" in message.body
    assert "like these papers: 2403.05470" in message.body
    assert "about:" not in message.body, "no keywords: no empty list of topics"
    subscriber = Subscriber.objects.get()
    assert subscriber.interest == "graph learning on molecules", "no invisible characters kept"


def test_the_confirm_page_shows_the_interest_and_seeds_a_link_carries(client):
    from subscribers.tokens import Preferences

    known = SubscriberFactory(email="ada@example.org", status="unsubscribed", query="pruning")
    carried = Preferences("", "daily", 10, interest="protein folding", seeds="2403.05470")
    page = client.get(reverse("confirm", args=[make_token(known, "confirm", carried)]))
    html = page.content.decode()
    assert "Papers close to this interest: “protein folding”" in html
    assert "Papers like these: 2403.05470" in html


def test_an_upload_past_the_cap_is_cut_off_as_it_arrives_and_explained(post, settings):
    settings.MAX_UPLOAD_BYTES = 64 * 1024
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    huge = SimpleUploadedFile("big.bib", b"@article{x, title={y}}\n" * 10_000)
    response = post(url, {"query": "", "frequency": "daily", "per_email": "10"}, library=huge)
    assert "That file is over 5 MB" in response.content.decode()
    reader.refresh_from_db()
    assert reader.query == "pruning"


def test_saving_preferences_is_rate_limited_per_subscriber(post, settings):
    settings.MANAGE_SAVES_PER_HOUR = 1
    reader = SubscriberFactory(query="pruning")
    url = reverse("manage", args=[make_token(reader, "manage")])
    assert (
        post(url, {"query": "diffusion", "frequency": "daily", "per_email": "10"}).status_code
        == 302
    )
    response = post(url, {"query": "graphs", "frequency": "daily", "per_email": "10"})
    assert "saved many times in the last hour" in response.content.decode()
    reader.refresh_from_db()
    assert reader.query == "diffusion"


def test_the_preview_says_when_it_cannot_match_by_meaning(client, papers):
    response = client.post(reverse("preview"), {"seeds": "2409.99999", "query": "pruning"})
    html = response.content.decode()
    assert "this preview is by your keywords alone" in html
    assert "matched: pruning" in html
