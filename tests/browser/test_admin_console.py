"""An operator logs in, reads the dashboard and hides a spam paper, in headless Chromium.
The dashboard screenshot is kept under var/screenshots/ (a CI artifact, not committed)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from digest.models import Paper
from tests.conftest import SCREENSHOTS
from tests.factories import PaperFactory, SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_logs_in_reads_the_dashboard_and_hides_a_paper(
    page, live_server, django_user_model
):
    django_user_model.objects.create_superuser("ops", "ops@example.org", "a-long-password-1")
    for status in ("active", "active", "pending", "unsubscribed"):
        SubscriberFactory(status=status)
    spam = PaperFactory(title="Cheap watches, best prices")
    PaperFactory(title="Global Channel Pruning for Multitask CNNs")

    refused = []  # the admin must work under its Content-Security-Policy
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Subscribers", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Signups and confirmations per day")).to_be_visible()
    expect(page.get_by_role("row", name="Active 2 0 2")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-dashboard.png"), full_page=True)

    page.get_by_role("link", name="Papers", exact=True).click()
    page.get_by_role("row", name="Cheap watches").get_by_role("checkbox").check()
    page.get_by_label("Action:").select_option("hide")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Hide these papers?")).to_be_visible()
    page.get_by_role("button", name="Yes, hide them").click()
    expect(page.get_by_text("Hid 1 paper(s).")).to_be_visible()
    spam.refresh_from_db()
    assert spam.hidden
    assert not Paper.objects.get(title__startswith="Global").hidden
    form = page.goto(live_server.url + "/admin/digest/paper/add/")  # the admin's widgets' JS
    page.get_by_role("link", name="Today").first.click()
    assert "script-src 'self'" in form.headers["content-security-policy"]
    assert refused == []


def test_operator_sends_a_test_digest_to_their_own_address(
    page, live_server, django_user_model, smtp_sink
):
    django_user_model.objects.create_superuser("ops", "ops@example.org", "a-long-password-1")
    PaperFactory(title="Global Channel Pruning for Multitask CNNs")
    SubscriberFactory(email="ada@example.org", query="pruning")

    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Send a test digest").click()
    expect(page.get_by_label("Send to")).to_have_value("ops@example.org")
    page.get_by_label("A subscriber's address").fill("ada@example.org")
    page.get_by_role("button", name="Send the test digest").click()

    expect(page.get_by_text("on its way to ops@example.org")).to_be_visible()
    assert [to for _, to in smtp_sink.envelopes] == [["ops@example.org"]]


HEADER_LINES = """() => [...document.querySelectorAll('.dash-card thead th')].map(th => {
  const range = document.createRange();
  range.selectNodeContents(th);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return [th.textContent, tops.size];
})"""


@pytest.mark.parametrize("width", [1280, 1024, 800, 420])
def test_dashboard_table_headers_never_break_inside_a_word(page, live_server, admin_user, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url + "/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Editions")).to_be_visible()

    broken = [text for text, lines in page.evaluate(HEADER_LINES) if lines > 1]

    assert broken == []
