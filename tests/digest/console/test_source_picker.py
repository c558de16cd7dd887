"""The admin's Add source page: arXiv categories or the Hugging Face daily papers in two clicks
(address, kind and name made for the operator), the kind detected for a typed address, and the
change page of an existing source as it was."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from digest.ingest import arxiv_categories, sources
from digest.models import Paper, Source

pytestmark = pytest.mark.django_db
ADD = reverse("admin:digest_source_add")


def add(client, **fields):
    data = {"name": "", "url": "", "kind": "auto", "enabled": "on", **fields}
    return client.post(ADD, data)


def errors_of(response) -> str:
    assert response.status_code == 200, "the form was expected to be refused"
    form = response.context["adminform"].form
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def test_the_add_page_offers_every_category_grouped_by_archive(admin_client):
    page = admin_client.get(ADD).content.decode()
    picker = re.search(r'<select name="categories"[^>]*>(.*?)</select>', page, re.S)
    groups = dict(re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', picker[1], re.S))

    assert " multiple>" in picker[0]
    assert len(re.findall(r"<option ", picker[1])) == len(arxiv_categories.categories()) == 162
    assert list(groups)[:2] == ["Computer Science", "Economics"] and len(groups) == 8
    assert '<option value="cs.LG">cs.LG: Machine Learning</option>' in groups["Computer Science"]
    assert "js/source-picker.js" in page
    assert "Hugging Face daily papers" in page


def test_several_categories_make_one_listing_named_after_them(admin_client):
    response = add(admin_client, categories=["cs.lg", "cs.CV"])
    assert response.status_code == 302
    source = Source.objects.get()
    assert source.url == "https://rss.arxiv.org/rss/cs.LG+cs.CV"
    assert source.kind == Source.Kind.ARXIV_RSS
    assert source.name == "arXiv cs.LG cs.CV"
    assert source.enabled


def test_a_name_given_for_picked_categories_is_kept(admin_client):
    add(admin_client, categories=["cs.CL"], name="Language")
    assert Source.objects.values_list("name", "url").get() == (
        "Language",
        "https://rss.arxiv.org/rss/cs.CL",
    )


def test_the_hugging_face_choice_makes_the_source_add_source_hf_daily_makes(admin_client):
    assert add(admin_client, hf_daily="on").status_code == 302
    from_admin = Source.objects.values_list("name", "url", "kind").get()
    Source.objects.all().delete()
    call_command("add_source", "hf-daily", stdout=StringIO())
    assert Source.objects.values_list("name", "url", "kind").get() == from_admin
    assert from_admin == (
        "Hugging Face daily papers",
        "https://huggingface.co/api/daily_papers",
        Source.Kind.HF_DAILY,
    )


def test_the_listings_kinds_are_source_kinds():
    chosen = arxiv_categories.choose(["cs.LG"])
    kinds = {arxiv_categories.arxiv_listing(chosen).kind, arxiv_categories.HF_DAILY.kind}
    assert kinds <= set(Source.Kind.values)


def test_an_unknown_category_is_refused_with_the_nearest_codes(admin_client):
    response = add(admin_client, categories=["cs.ML"])
    assert "“cs.ML” is not an arXiv category. Did you mean" in errors_of(response)
    assert not Source.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({}, "Choose from the lists above, or give a feed's address.", id="nothing"),
        pytest.param(
            {"categories": ["cs.LG"], "hf_daily": "on"}, "each is a source", id="both-lists"
        ),
        pytest.param(
            {"categories": ["cs.LG"], "url": "https://example.org/feed.xml"},
            "Leave the address empty",
            id="picked-and-typed",
        ),
        pytest.param(
            {"categories": ["cs.LG"], "kind": "feed"}, "Leave the kind to be detected", id="kind"
        ),
        pytest.param(
            {"url": "https://rss.arxiv.org/rss/cs.LG"}, "Name this source.", id="typed-no-name"
        ),
    ],
)
def test_contradictory_or_missing_choices_are_explained(admin_client, fields, message):
    response = add(admin_client, **fields)
    assert message in errors_of(response)
    assert not Source.objects.exists()


def test_a_listing_already_fetched_is_named(admin_client):
    Source.objects.create(name="ML", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss")
    response = add(admin_client, categories=["cs.LG"])
    assert "“ML” already fetches this URL." in errors_of(response)
    assert Source.objects.count() == 1


def test_a_suggested_name_already_taken_asks_for_another(admin_client):
    Source.objects.create(name="arXiv cs.LG", url="https://example.org/x.xml", kind="feed")
    response = add(admin_client, categories=["cs.LG"])
    assert "A source is already named “arXiv cs.LG”: name this one." in errors_of(response)
    assert add(admin_client, categories=["cs.LG"], name="arXiv ML").status_code == 302


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://rss.arxiv.org/rss/cs.LG", Source.Kind.ARXIV_RSS),
        ("https://rss.arxiv.org/rss/cs.LG+cs.AI", Source.Kind.ARXIV_RSS),
        ("http://export.arxiv.org/rss/cs.LG", Source.Kind.ARXIV_RSS),
        ("https://export.arxiv.org/api/query?search_query=cat:cs.LG", Source.Kind.ARXIV_API),
        ("https://huggingface.co/api/daily_papers", Source.Kind.HF_DAILY),
    ],
)
def test_the_kind_of_a_well_known_address_is_detected_by_default(admin_client, url, kind):
    assert add(admin_client, url=url, name="typed").status_code == 302
    assert Source.objects.get().kind == kind


@pytest.mark.parametrize("name", ["generic-rss.xml", "generic-atom.xml"])
def test_any_other_address_is_a_plain_feed_when_it_serves_one(
    admin_client, feed_server, data_dir, name
):
    url = feed_server.route("/feed", body=(data_dir / "feeds" / name).read_bytes())
    assert add(admin_client, url=url, name="a blog").status_code == 302
    assert Source.objects.get().kind == Source.Kind.FEED


def test_an_arxiv_address_saved_with_the_default_kind_keeps_its_abstracts_clean(
    admin_client, data_dir
):
    add(admin_client, url="https://rss.arxiv.org/rss/cs.LG", name="cs.LG")
    source = Source.objects.get()
    body = (data_dir / "feeds" / "arxiv-rss.xml").read_bytes()

    result = sources.ingest_body(body, label=source.name, kind=source.kind, source=source)

    assert result.ok and Paper.objects.count() == 12
    garbled = Paper.objects.filter(abstract__icontains="Announce Type")
    assert list(garbled.values_list("arxiv_id", flat=True)) == []


def test_the_change_page_of_an_existing_source_edits_it_as_before(admin_client):
    source = Source.objects.create(
        name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss"
    )
    change = reverse("admin:digest_source_change", args=[source.pk])
    page = admin_client.get(change).content.decode()
    assert 'name="categories"' not in page and "source-picker.js" not in page
    assert '<option value="arxiv-rss" selected>' in page

    response = admin_client.post(
        change, {"name": "Machine learning", "url": source.url, "kind": "arxiv-rss"}
    )

    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.kind, source.enabled) == ("Machine learning", "arxiv-rss", False)


def test_the_change_page_still_refuses_a_kind_the_address_contradicts(admin_client):
    source = Source.objects.create(
        name="cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind="arxiv-rss"
    )
    change = reverse("admin:digest_source_change", args=[source.pk])
    response = admin_client.post(change, {"name": "cs.LG", "url": source.url, "kind": "feed"})
    assert "This address serves an arXiv RSS listing" in errors_of(response)
    source.refresh_from_db()
    assert source.kind == "arxiv-rss"
