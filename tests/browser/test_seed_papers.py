"""Seed papers on the preferences page: the live preview changes as they are typed, says why,
and saving keeps them as the reader's profile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from digest.matching import recent, vectors
from subscribers.models import SeedPaper
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_seeds_change_the_live_preview_and_are_saved(page, live_server, settings):
    settings.SITE_URL = live_server.url
    seed = PaperFactory(
        title="Federated Averaging across Hospitals",
        abstract="Training one model across hospitals that cannot share patient records.",
    )
    PaperFactory(
        title="Decentralised Learning without Sharing Raw Data",
        abstract="Clients train together and exchange only model updates, keeping data private.",
    )
    PaperFactory(title="Galaxy Rotation Curves", abstract="Dark matter halos of spiral galaxies.")
    vectors.embed_pending(vectors.embedder())
    recent.forget()
    reader = SubscriberFactory(query="quantum chemistry")
    page.goto(f"{live_server.url}/manage/{make_token(reader, 'manage')}/")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("None of the last 3 papers match")

    page.get_by_label("Papers you like").fill(seed.arxiv_id)
    expect(preview).to_contain_text("Decentralised Learning without Sharing Raw Data")
    expect(preview).to_contain_text(f"similar to “{seed.title}”")
    expect(preview).not_to_contain_text("Galaxy")

    page.get_by_label("Keywords").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert list(SeedPaper.objects.filter(subscriber=reader).values_list("paper", flat=True)) == [
        seed.pk
    ]
    expect(page.get_by_label("Papers you like")).to_have_value(seed.arxiv_id)
