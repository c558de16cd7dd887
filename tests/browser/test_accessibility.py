"""axe-core on every public page, in the light and the dark colour scheme."""

from __future__ import annotations

import pytest

from subscribers.tokens import make_token
from tests.conftest import IN_CI
from tests.factories import PaperFactory, SubscriberFactory
from tests.support.axe import missing_axe, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMES = ["light", "dark"]


@pytest.fixture(autouse=True)
def _axe_installed():
    if reason := missing_axe():
        (pytest.fail if IN_CI else pytest.skip)(reason)


@pytest.fixture
def site(live_server):
    PaperFactory(title="Federated learning at the edge", upvotes=12)
    PaperFactory(title="Pruning for multitask CNNs", abstract="We prune federated models.")
    return live_server.url


def _check(page, url: str, scheme: str) -> list[str]:
    page.emulate_media(color_scheme=scheme)
    page.goto(url)
    return serious_violations(page)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_landing_page_and_its_search_pass_axe(page, site, scheme):
    assert _check(page, site + "/", scheme) == []
    assert _check(page, site + "/?q=federated", scheme) == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_trending_page_its_periods_and_its_search_pass_axe(page, site, scheme):
    from digest.models import Paper
    from tests.factories import SourceFactory

    carriers = [SourceFactory(name=f"arXiv cs.{code}") for code in ("LG", "CV", "CL", "AI")]
    for paper in Paper.objects.all():
        paper.sources.set(carriers)  # "via …, … and 1 more" on every card

    assert _check(page, site + "/trending/", scheme) == []
    assert _check(page, site + "/trending/?period=month&q=federated", scheme) == []
    assert _check(page, site + "/?q=federated", scheme) == []  # the tabs keep the search


@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_empty_site_passes_axe(page, live_server, scheme):
    assert _check(page, live_server.url + "/", scheme) == []
    assert _check(page, live_server.url + "/trending/?period=week", scheme) == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_signup_page_and_its_live_preview_pass_axe(page, site, scheme):
    assert _check(page, site + "/subscribe/", scheme) == []
    page.locator("textarea[data-preview-url]").fill("federated")
    page.locator("#preview mark").first.wait_for()

    assert serious_violations(page) == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_preview_by_meaning_passes_axe(page, site, scheme):
    from digest.matching import recent, vectors

    vectors.embed_pending(vectors.embedder())
    recent.forget()
    assert _check(page, site + "/subscribe/", scheme) == []
    page.get_by_label("What you work on, in your words").fill("training models on edge devices")
    page.locator("#preview .score").first.wait_for()

    assert serious_violations(page) == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_manage_page_passes_axe(page, site, scheme):
    from digest.models import Paper
    from subscribers import subscriptions

    reader = SubscriberFactory(query="federated", interest="training across hospitals")
    liked, disliked = Paper.objects.order_by("pk")
    subscriptions.rate(reader, liked.pk, "more")
    subscriptions.rate(reader, disliked.pk, "less")
    PaperFactory(title="Federated averaging in practice")  # not rated: in the preview

    # With the live preview's rate buttons and the interest card, each entry removable.
    assert _check(page, f"{site}/manage/{make_token(reader, 'manage')}/", scheme) == []
    assert page.get_by_role("button", name="Reset personalization").count() == 1
    assert page.get_by_role(
        "button", name="Less like this: Federated averaging in practice"
    ).count()
    assert page.get_by_role("button", name=f"Remove {liked.title}").count() == 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_confirm_and_unsubscribe_pages_pass_axe(page, site, scheme):
    pending = SubscriberFactory(status="pending")
    reader = SubscriberFactory()

    assert _check(page, f"{site}/confirm/{make_token(pending, 'confirm')}/", scheme) == []
    assert _check(page, f"{site}/unsubscribe/{make_token(reader, 'unsubscribe')}/", scheme) == []
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading").first.wait_for()

    assert serious_violations(page) == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_digest_as_the_reader_sees_it_passes_axe(page, site, scheme, mailoutbox):
    from urllib.parse import urlsplit

    from digest.delivery import sending
    from digest.delivery.links import view_url
    from digest.models import Delivery

    SubscriberFactory(query="federated\npruning")
    sending.send_chunk(sending.dispatch(sending.plan_edition("daily", any_hour=True))[0])
    (delivery,) = Delivery.objects.filter(status="sent")
    # The email's own HTML, as its view-in-browser page shows it (and mail clients render it).
    path = urlsplit(view_url(delivery)).path

    assert _check(page, site + path, scheme) == []
    # A "less like this" link from it: the one-button page, then what pressing it says.
    rate = page.get_by_role("link", name="Less like this").first.get_attribute("href")
    assert _check(page, site + urlsplit(rate).path, scheme) == []
    page.get_by_role("button", name="Yes, less like this").click()
    page.get_by_role("button", name="Undo").wait_for()
    assert serious_violations(page) == []
