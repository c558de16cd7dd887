"""A fresh install's dashboard leads to the Add source page, whose category picker works in
headless Chromium (filter, choose two, save) and without JavaScript; axe on both pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from digest.models import Source
from tests.conftest import IN_CI
from tests.support.axe import missing_axe, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ADD = "/admin/digest/source/add/"


def log_in(page, live_server, then: str = ADD) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={then}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()


def test_a_fresh_install_leads_from_the_dashboard_to_adding_a_source(page, live_server, admin_user):
    log_in(page, live_server, then="/admin/")
    hint = page.get_by_role("article", name="Getting started")
    expect(hint).to_contain_text("No sources yet")
    expect(hint).to_contain_text("python manage.py add_source hf-daily")
    hint.get_by_role("link", name="add an arXiv category or the Hugging Face daily papers").click()
    expect(page.get_by_role("heading", name="Add source")).to_be_visible()
    page.get_by_label("Hugging Face daily papers").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("“Hugging Face daily papers” was added successfully")).to_be_visible()

    page.goto(live_server.url + "/admin/")
    expect(page.get_by_role("article", name="Getting started")).to_contain_text("No papers yet")


def test_operator_filters_chooses_two_categories_and_saves(page, live_server, admin_user):
    refused = []  # the admin must work under its Content-Security-Policy
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    log_in(page, live_server)
    expect(page.get_by_role("heading", name="Add source")).to_be_visible()
    categories = page.get_by_label("arXiv categories:")
    learning = page.get_by_role("option", name="cs.LG: Machine Learning")
    vision = page.get_by_role("option", name="cs.CV: Computer Vision and Pattern Recognition")
    status = page.locator("#id_categories_chosen")
    expect(status).to_have_text("No category chosen yet.")

    page.get_by_label("Filter categories:").fill("machine learn")
    expect(learning).to_be_visible()
    expect(vision).to_be_hidden()
    learning.click()
    page.get_by_label("Filter categories:").fill("vision")
    expect(learning).to_be_hidden()
    vision.click(modifiers=["Control"])
    expect(status).to_have_text("Chosen: cs.CV, cs.LG.")
    page.get_by_label("Filter categories:").press("Enter")  # narrows, never submits
    page.get_by_label("Filter categories:").fill("no such thing")
    expect(status).to_have_text("No category matches “no such thing”. Chosen: cs.CV, cs.LG.")
    expect(categories).to_have_values(["cs.CV", "cs.LG"])
    page.get_by_role("button", name="Save", exact=True).click()

    expect(
        page.get_by_text("The source “arXiv cs.CV cs.LG” was added successfully.")
    ).to_be_visible()
    source = Source.objects.get()
    assert (source.url, source.kind) == ("https://rss.arxiv.org/rss/cs.CV+cs.LG", "arxiv-rss")
    assert refused == []


def test_the_picker_works_without_javascript(chromium, live_server, admin_user):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server)
        expect(page.get_by_role("heading", name="Add source")).to_be_visible()
        expect(page.get_by_label("Filter categories:")).to_have_count(0)
        page.get_by_label("arXiv categories:").select_option(["cs.LG", "cs.CV"])
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("was added successfully")).to_be_visible()
    finally:
        context.close()
    assert Source.objects.values_list("url", flat=True).get() == (
        "https://rss.arxiv.org/rss/cs.CV+cs.LG"
    )


@pytest.fixture
def axe_page(page):
    if reason := missing_axe():
        (pytest.fail if IN_CI else pytest.skip)(reason)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_add_source_page_passes_axe(axe_page, live_server, admin_user, scheme):
    axe_page.emulate_media(color_scheme=scheme)
    log_in(axe_page, live_server)
    axe_page.get_by_label("Filter categories:").fill("learning")
    axe_page.get_by_role("option", name="cs.LG: Machine Learning").click()

    assert serious_violations(axe_page) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_of_a_fresh_install_passes_axe(axe_page, live_server, admin_user, scheme):
    axe_page.emulate_media(color_scheme=scheme)
    log_in(axe_page, live_server, then="/admin/")
    expect(axe_page.get_by_role("heading", name="Getting started")).to_be_visible()

    assert serious_violations(axe_page) == []
