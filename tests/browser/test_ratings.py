"""Rating from the browser: the view-in-browser page's "less like this" opens a page that waits
for a press (loading pages changes nothing, whatever scripts run), and once pressed the
reader's preferences page previews without that paper and lists it on their interest card."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from digest.delivery import sending
from digest.delivery.links import view_url
from digest.matching import recent, vectors
from digest.models import Delivery
from subscribers.models import Feedback
from subscribers.tokens import make_token
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
GALAXIES = "Learning to rank galaxies by rotation curves"


def test_less_like_this_in_the_view_in_browser_page_changes_the_preferences_preview(
    page, live_server, settings, mailoutbox
):
    settings.SITE_URL = live_server.url
    for title, abstract in [
        ("Federated learning with secure aggregation", "Clients train one model together."),
        ("Federated learning under client drift", "Skewed client data slows training."),
        (GALAXIES, "Dark matter halos and learning."),
        ("Federated learning for hospitals", "Medical records never leave the site."),
    ]:
        PaperFactory(title=title, abstract=abstract)
    vectors.embed_pending(vectors.embedder())
    recent.forget()
    reader = SubscriberFactory(status="active", query="learning", interest="federated training")
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (delivery,) = Delivery.objects.filter(status="sent")

    manage = f"{live_server.url}/manage/{make_token(reader, 'manage')}/"
    page.goto(manage)
    expect(page.locator("#preview")).to_contain_text(GALAXIES)

    page.goto(view_url(delivery))
    paper = page.locator("td.paper", has_text=GALAXIES)
    paper.get_by_role("link", name="Less like this").click()
    expect(page.get_by_role("heading", name="Less like this?")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert not Feedback.objects.exists()  # the page waits for a press

    page.get_by_role("button", name="Yes, less like this").click()
    expect(page.get_by_role("status")).to_contain_text(f"You'll see fewer papers like {GALAXIES}")
    assert urlsplit(page.url).path.startswith("/rate/")
    assert list(Feedback.objects.values_list("action", flat=True)) == ["less"]

    page.goto(manage)
    expect(page.locator("#preview")).not_to_contain_text(GALAXIES)
    card = page.locator("#interest-card")
    expect(card).to_contain_text("Fewer like these (1)")
    expect(card).to_contain_text(GALAXIES)

    # Removed from the card with one click: the paper may come back.
    card.get_by_role("button", name=f"Remove {GALAXIES}").click()
    expect(page.get_by_text(f"Removed: we no longer count “{GALAXIES}”.")).to_be_visible()
    assert not Feedback.objects.exists()
    expect(page.locator("#preview")).to_contain_text(GALAXIES)
