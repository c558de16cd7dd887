"""The browser fills in the reader's time zone, the reader can change it, and the server keeps
what was sent; the preferences page offers the device's zone when it differs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from subscribers.models import Subscriber
from subscribers.tokens import make_token
from tests.factories import SubscriberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def in_honolulu(chromium, request):
    context = chromium.new_context(timezone_id="Pacific/Honolulu")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def test_signing_up_takes_the_browsers_time_zone(in_honolulu, live_server, smtp_sink):
    page = in_honolulu
    page.goto(live_server.url + "/subscribe/")
    page.get_by_text("Send time, order and arXiv announcements").click()
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("Pacific/Honolulu")
    page.get_by_label("Send at").select_option("09:00")
    page.get_by_label("Email", exact=True).fill("ada@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    reader = Subscriber.objects.get()
    assert (reader.time_zone, reader.send_hour, reader.wants_top_papers) == (
        "Pacific/Honolulu",
        9,
        True,
    )


def test_the_preferences_page_offers_the_devices_zone_and_keeps_a_typed_one(
    in_honolulu, live_server
):
    reader = SubscriberFactory(time_zone="Europe/Berlin")
    page = in_honolulu
    page.goto(live_server.url + f"/manage/{make_token(reader, 'manage')}/")
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("Europe/Berlin")  # what they chose is never overwritten
    page.get_by_role("button", name="Use Pacific/Honolulu (this device)").click()
    expect(zone).to_have_value("Pacific/Honolulu")
    zone.fill("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#next-send")).to_contain_text("(America/New_York)")
    reader.refresh_from_db()
    assert reader.time_zone == "America/New_York"
