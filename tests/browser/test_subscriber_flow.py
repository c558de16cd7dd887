from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.conftest import SCREENSHOTS
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, smtp_sink):
    settings.SITE_URL = live_server.url
    PaperFactory(title="Global Channel Pruning for Multitask CNNs", upvotes=12)
    PaperFactory(
        title="Federated Orthogonal Training", abstract="Federated learning without forgetting."
    )
    PaperFactory(
        title="Addressing Negative Transfer in Diffusion Models", abstract="Diffusion models."
    )
    return live_server.url


def link_in(message, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"(http://\S+{path}\S+/)", text).group(1)


def test_sign_up_preview_confirm_change_preferences_and_unsubscribe(page, site, smtp_sink):
    page.goto(site + "/")
    expect(
        page.get_by_role("heading", name="Get trending papers in your email inbox!")
    ).to_be_visible()
    page.get_by_label("Email", exact=True).fill("ada@example.org")
    keywords = page.get_by_label("What should we look for?")

    keywords.press_sequentially("prun", delay=20)
    preview = page.locator("#preview")
    expect(preview).to_contain_text("None of the last 3 papers match")
    keywords.press_sequentially("ing", delay=20)
    expect(preview).to_contain_text("matched: pruning")
    expect(preview.locator("mark")).to_have_text("Pruning")

    keywords.press_sequentially(' -"', delay=20)  # half-typed phrase: the parser's message
    expect(preview).to_contain_text("unmatched quote")
    keywords.fill("pruning\nfederated learning")
    expect(preview).to_contain_text("2 of the last 3 papers match")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "landing-preview.png"), full_page=True)

    page.get_by_label("Weekly", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    (confirmation,) = smtp_sink.to("ada@example.org")
    assert confirmation["Subject"] == "Confirm your Paper Digest subscription"
    assert confirmation.get_body(("html",)) is not None
    page.goto(link_in(confirmation, "/confirm/"))
    page.get_by_role("button", name="Yes, confirm").click()  # nothing submits itself
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    assert Subscriber.objects.get().status == "active"

    page.get_by_role("link", name="Change your preferences").click()
    page.wait_for_load_state()  # the click does not wait for the new page's scripts
    field = page.get_by_label("Keywords")
    expect(field).to_have_value("pruning\nfederated learning")
    field.fill("diffusion")
    expect(page.locator("#preview")).to_contain_text("matched: diffusion")
    page.get_by_label("Papers per email").select_option("5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    page.screenshot(path=str(SCREENSHOTS / "preferences.png"), full_page=True)
    subscriber = Subscriber.objects.get()
    assert (subscriber.query, subscriber.per_email, subscriber.frequency) == (
        "diffusion",
        5,
        "weekly",
    )

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    assert Subscriber.objects.get().status == "unsubscribed"


def test_the_form_works_with_javascript_off(chromium, site, smtp_sink):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site + "/subscribe/")
    page.get_by_label("Email", exact=True).fill("nojs@example.org")
    page.get_by_label("What should we look for?").fill("pruning")
    page.get_by_role("button", name="Preview matches").click()
    expect(page.locator("#preview")).to_contain_text("matched: pruning")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    confirm = link_in(smtp_sink.to("nojs@example.org")[0], "/confirm/")
    page.goto(confirm)  # without JavaScript the button must be pressed
    page.get_by_role("button", name="Yes, confirm").click()
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    context.close()


def test_it_changes_nothing_when_a_scanner_running_javascript_opens_the_links(page, site):
    # Link scanners (Safe Links-style "detonation") load every link in a real browser.
    pending = SubscriberFactory(status="pending", confirmed_at=None)
    reader = SubscriberFactory()
    for url, button in (
        (f"{site}/confirm/{make_token(pending, 'confirm')}/", "Yes, confirm"),
        (f"{site}/unsubscribe/{make_token(reader, 'unsubscribe')}/", "Unsubscribe"),
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)  # any script has long run by now
        expect(page.get_by_role("button", name=button)).to_be_visible()
    pending.refresh_from_db(), reader.refresh_from_db()
    assert (pending.status, reader.status) == ("pending", "active")
    page.get_by_role("button", name="Unsubscribe").click()  # a person presses the button
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    reader.refresh_from_db()
    assert reader.status == "unsubscribed"


def test_a_mailbox_providers_one_click_unsubscribe(site):
    subscriber = SubscriberFactory()
    url = f"{site}/unsubscribe/{make_token(subscriber, 'unsubscribe')}/"
    # Exactly what Gmail and Yahoo send (RFC 8058): a POST, no cookies, no CSRF token.
    response = requests.post(
        url,
        data="List-Unsubscribe=One-Click",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


def test_a_tampered_link_shows_the_friendly_error(page, site):
    page.goto(site + "/manage/WzEsMV0:1xVskN:tampered/")
    expect(page.get_by_role("heading", name="This link doesn't work")).to_be_visible()
