"""arXiv's taxonomy as data, and sources from it in one command (add_source)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from digest.ingest import readers
from digest.ingest.arxiv_categories import UnknownCategory, categories, choose, listing_url
from digest.models import Source


def test_the_taxonomy_has_every_archive_and_well_formed_codes():
    known = categories()
    assert len(known) > 150
    assert known["cs.LG"].name == "Machine Learning" and known["cs.LG"].group == "Computer Science"
    archives = {"hep-th", "quant-ph", "stat.ML", "econ.EM", "eess.SP", "q-fin.ST", "q-bio.NC"}
    assert archives <= set(known)
    assert known["nlin.CD"].name == "Chaotic Dynamics"


def test_several_categories_make_one_listing_url_in_any_case():
    chosen = choose(["cs.lg", "CS.CV", "cs.LG"])
    assert [c.code for c in chosen] == ["cs.LG", "cs.CV"]
    url = listing_url(chosen)
    assert url == "https://rss.arxiv.org/rss/cs.LG+cs.CV"
    assert readers.kind_from_url(url) == Source.Kind.ARXIV_RSS


def test_an_unknown_category_suggests_the_nearest():
    with pytest.raises(UnknownCategory, match=r"“cs\.ML” is not an arXiv category\. Did you mean"):
        choose(["cs.ML"])
    with pytest.raises(UnknownCategory, match="at least one"):
        choose([])


def run(*args: str) -> str:
    out = StringIO()
    call_command("add_source", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_add_source_arxiv_and_hf_daily_in_one_line_each():
    assert "Added arXiv cs.LG cs.CV" in run("arxiv", "cs.LG", "cs.CV")
    source = Source.objects.get(name="arXiv cs.LG cs.CV")
    assert (source.url, source.kind) == ("https://rss.arxiv.org/rss/cs.LG+cs.CV", "arxiv-rss")
    assert "Already a source" in run("arxiv", "cs.lg", "cs.cv")
    assert "Added Hugging Face daily papers" in run("hf-daily")
    assert Source.objects.get(kind="hf-daily").url == "https://huggingface.co/api/daily_papers"
    assert Source.objects.count() == 2


@pytest.mark.django_db
def test_add_source_explains_what_is_wrong():
    with pytest.raises(CommandError, match="not an arXiv category"):
        run("arxiv", "cs.XX")
    with pytest.raises(CommandError, match="no categories"):
        run("hf-daily", "cs.LG")
    Source.objects.create(name="arXiv cs.LG", url="https://example.org/x", kind="feed")
    with pytest.raises(CommandError, match="already named"):
        run("arxiv", "cs.LG")
    assert Source.objects.count() == 1
