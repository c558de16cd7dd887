from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from digest.views import PAGE_SIZE
from lib.errors import server_error
from tests.factories import PaperFactory, SourceFactory

pytestmark = pytest.mark.django_db


def test_landing_lists_newest_papers_first_grouped_by_day(client):
    now = timezone.now()
    PaperFactory(title="Yesterday's paper", first_seen_at=now - timedelta(days=1))
    PaperFactory(title="Today's paper", first_seen_at=now, upvotes=42)
    page = client.get("/").content.decode()
    assert "Get trending papers in your email inbox!" in page
    assert page.index("Today&#x27;s paper") < page.index("Yesterday&#x27;s paper")
    assert now.strftime("%A, %b ") in page
    assert "▲ 42" in page


def test_landing_paginates_without_counting(client, django_assert_max_num_queries):
    for i in range(PAGE_SIZE + 5):
        PaperFactory(title=f"Paper number {i}")
    # The papers version (latest fetch, latest paper change), the page and its papers'
    # sources (one query for the page, not one per paper); no COUNT.
    with django_assert_max_num_queries(4):
        first = client.get("/").content.decode()
    assert "Older →" in first and "← Newer" not in first
    second = client.get("/?page=2").content.decode()
    assert second.count('class="paper card"') == 5
    assert "← Newer" in second and "Older →" not in second


@pytest.mark.parametrize("page", ["-3", "abc", "999999", ""])
def test_odd_page_numbers_do_not_break_the_page(client, page):
    assert client.get("/", {"page": page}).status_code == 200


def test_untrusted_titles_and_abstracts_are_escaped(client):
    PaperFactory(
        title='<script>alert("t")</script> Pruning <img src=x onerror=alert(1)>',
        abstract="<b>bold</b> & <a href='javascript:alert(1)'>link</a>",
        abs_url="https://arxiv.org/abs/2403.1",
    )
    page = client.get("/").content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
    searched = client.get("/", {"q": "pruning"}).content.decode()
    assert "&lt;script&gt;" in searched and "<mark>Pruning</mark>" in searched


def test_search_uses_the_keyword_language_and_highlights(client):
    PaperFactory(title="Global channel pruning for multitask CNNs")
    PaperFactory(title="Diffusion models")
    page = client.get("/", {"q": "title:prun*"}).content.decode()
    assert "<mark>pruning</mark>" in page
    assert "Diffusion models" not in page
    assert "1 of 2 recent papers match" in page


def test_an_invalid_search_says_what_is_wrong(client):
    page = client.get("/", {"q": '"unclosed'}).content.decode()
    assert "unmatched quote" in page


def test_preview_returns_a_partial_with_highlighted_matches(client):
    PaperFactory(title="Pruning at scale")
    response = client.post(reverse("preview"), {"query": "pruning"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "<mark>Pruning</mark> at scale" in body
    assert "matched: pruning" in body


def test_preview_shows_the_parsers_message(client):
    body = client.post(reverse("preview"), {"query": "a OR"}).content.decode()
    assert "OR needs a term on each side" in body


def test_preview_of_nothing_shows_the_most_upvoted_papers(client):
    from tests.factories import PaperFactory

    PaperFactory(title="A quiet paper", upvotes=None)
    PaperFactory(title="A popular paper", upvotes=300)
    shown = client.post(reverse("preview"), {"query": "  "}).content.decode()
    assert "With nothing typed, you'd get the most upvoted" in shown
    assert shown.index("A popular paper") < shown.index("A quiet paper")


def test_preview_requires_post_and_csrf(client):
    assert client.get(reverse("preview")).status_code == 405
    assert (
        Client(enforce_csrf_checks=True).post(reverse("preview"), {"query": "x"}).status_code == 403
    )


def test_pages_send_security_headers(client):
    response = client.get("/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_404_matches_the_site(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_500_page_shows_no_details():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "Traceback" not in body


def test_pages_have_accessible_basics(client):
    page = client.get("/subscribe/").content.decode()
    assert '<html lang="en">' in page
    assert 'name="viewport"' in page
    assert 'class="skip" href="#content"' in page
    assert 'aria-live="polite"' in page
    assert '<label for="id_email">' in page


def test_the_cached_landing_page_gives_each_visitor_a_working_csrf_token(
    django_capture_on_commit_callbacks,
):
    import re

    PaperFactory(title="Cached paper")
    for n in range(2):  # the second visitor is served the cached copy
        visitor = Client(enforce_csrf_checks=True)
        page = visitor.get("/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        assert "placeholder" not in token
        with django_capture_on_commit_callbacks(execute=True):
            response = visitor.post(
                reverse("subscribe"),
                {
                    "csrfmiddlewaretoken": token,
                    "email": f"visitor{n}@example.org",
                    "query": "pruning",
                    "frequency": "daily",
                    "per_email": "10",
                },
            )
        assert response.status_code == 302


def test_the_cached_landing_page_never_carries_one_visitors_messages():
    from subscribers.tokens import make_token
    from tests.factories import SubscriberFactory

    PaperFactory()
    subscriber = SubscriberFactory()
    saver, stranger = Client(), Client()
    saved = saver.post(
        reverse("manage", args=[make_token(subscriber, "manage")]),
        {"query": "pruning", "frequency": "daily", "per_email": "10"},
    )
    assert saved.status_code == 302  # "Saved." now waits in the saver's session
    assert "Saved." not in saver.get("/").content.decode()
    assert "Saved." not in stranger.get("/").content.decode()
    assert "Saved." in saver.get(saved["Location"]).content.decode()  # shown where it belongs


def test_feed_text_cannot_collect_a_visitors_csrf_token():
    import re

    PaperFactory(
        title="Bait __csrf-token-placeholder__",
        abs_url="https://attacker.example/?t=__csrf-token-placeholder__",
    )
    for _ in range(2):  # rendered, then served from the page cache
        page = Client().get("/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        assert page.count(token) == 1
        assert "https://attacker.example/?t=__csrf-token-placeholder__" in page


def _bulk_papers(count: int, title: str) -> None:
    from digest.models import Paper

    Paper.objects.bulk_create(PaperFactory.build_batch(count, title=title))


def test_search_pages_through_every_match(client):
    _bulk_papers(PAGE_SIZE * 3 + 5, "Pruning networks")

    pages = [client.get("/", {"q": "pruning", "page": n}).content.decode() for n in (1, 2, 3, 4)]

    assert [p.count('class="paper card"') for p in pages] == [PAGE_SIZE] * 3 + [5]
    assert "65 of 65 recent papers match" in pages[0]
    assert "q=pruning&amp;page=2" in pages[0] and "q=pruning&amp;page=5" not in pages[3]


def test_a_search_page_past_the_last_says_so(client):
    _bulk_papers(3, "Pruning networks")

    page = client.get("/", {"q": "pruning", "page": 7}).content.decode()

    assert "past the last page of results" in page
    assert "Operators" not in page


def test_a_listing_page_past_the_oldest_paper_says_so(client):
    PaperFactory()

    page = client.get("/", {"page": 999}).content.decode()

    assert "past the oldest paper" in page
    assert "Operators" not in page and "manage.py" not in page


def test_an_empty_site_tells_the_public_nothing_about_operating_it(client):
    SourceFactory()  # it runs: a source waits for its first fetch

    page = client.get("/").content.decode()

    assert "No papers yet" in page
    assert "Operators" not in page and "manage.py" not in page


def test_search_is_rate_limited_per_client_with_a_friendly_message(settings):
    settings.PREVIEW_LIMIT_PER_MINUTE = 3
    PaperFactory(title="Pruning networks")
    mine, theirs = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")

    codes = [mine.get("/", {"q": f"pruning {n}"}).status_code for n in range(4)]
    limited = mine.get("/", {"q": "pruning"})

    assert codes == [200, 200, 200, 429]
    assert "Please wait a minute" in limited.content.decode()
    assert theirs.get("/", {"q": "pruning"}).status_code == 200


def test_preview_is_rate_limited_per_client_with_a_friendly_message(settings):
    settings.PREVIEW_LIMIT_PER_MINUTE = 3
    PaperFactory(title="Pruning networks")
    mine, theirs = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")

    codes = [mine.post(reverse("preview"), {"query": f"x{n}"}).status_code for n in range(4)]
    limited = mine.post(reverse("preview"), {"query": "pruning"})
    signup_page = mine.post(reverse("subscribe"), {"query": "pruning", "preview": "1"})

    assert codes == [200, 200, 200, 429]
    assert "Please wait a minute" in limited.content.decode()
    assert "Please wait a minute" in signup_page.content.decode()  # the no-JS preview too
    assert theirs.post(reverse("preview"), {"query": "pruning"}).status_code == 200


def test_admin_pages_send_a_content_security_policy(admin_client):
    for url in ["/admin/login/", "/admin/", "/admin/digest/paper/", "/admin/digest/paper/add/"]:
        policy = admin_client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, url


def test_a_fresh_install_tells_its_operator_how_to_add_a_source(client):
    page = client.get("/").content.decode()

    assert "No papers yet. If you run this site" in page
    assert '<a href="/admin/">admin</a>' in page
    assert "<code>.venv/bin/python manage.py add_source arxiv cs.LG</code>" in page
    assert "<code>.venv/bin/python manage.py ingest</code>" in page


def test_the_fresh_install_hint_gives_commands_that_exist(capsys):
    import re

    from django.core.management import call_command

    page = Client().get("/").content.decode()
    commands = re.findall(r"<code>\.venv/bin/python manage\.py ([^<]+)</code>", page)
    assert commands == ["add_source arxiv cs.LG", "ingest"]

    call_command(*commands[0].split())  # as printed: it adds the arXiv cs.LG listing

    assert "Added arXiv cs.LG" in capsys.readouterr().out


def test_each_paper_shows_its_own_published_date_under_the_day_it_arrived(client):
    from datetime import UTC, datetime

    PaperFactory(title="An old paper", published_at=datetime(2024, 3, 8, 13, tzinfo=UTC))
    PaperFactory(title="A paper without a date", published_at=None)

    page = client.get("/").content.decode()

    assert timezone.now().strftime("%A, %b ") in page  # grouped by the day it was listed
    assert 'Published <time datetime="2024-03-08">Mar 8, 2024</time>' in page
    today = timezone.now()
    assert f'Published <time datetime="{today:%Y-%m-%d}">' in page  # falls back to first seen


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (1, "via source A</p>"),
        (2, "via source A and source B</p>"),
        (3, "via source A, source B and source C</p>"),
        (5, "via source A, source B, source C and 2 more</p>"),
    ],
)
def test_each_paper_names_the_sources_that_carried_it_at_most_three(client, count, shown):
    paper = PaperFactory()
    paper.sources.set([SourceFactory(name=f"source {chr(65 + n)}") for n in range(count)])

    assert shown in client.get("/").content.decode()


def test_a_paper_no_source_carried_shows_no_via(client):
    PaperFactory(title="Ingested from a file")

    page = client.get("/").content.decode()

    assert "Published <time" in page and " · via" not in page


def test_source_names_are_escaped(client):
    paper = PaperFactory()
    paper.sources.add(SourceFactory(name="<b>Evil</b> & co"))

    page = client.get("/").content.decode()

    assert "via &lt;b&gt;Evil&lt;/b&gt; &amp; co" in page and "<b>Evil" not in page


def test_sources_cost_one_query_for_the_whole_page(client, django_assert_num_queries):
    carriers = [SourceFactory(), SourceFactory()]
    for _ in range(PAGE_SIZE):
        PaperFactory().sources.set(carriers)

    with django_assert_num_queries(4):  # version (2), the papers, their sources
        page = client.get("/").content.decode()
    assert page.count("via source") == PAGE_SIZE


def test_search_results_show_their_sources_without_a_query_each(client, django_assert_num_queries):
    carrier = SourceFactory(name="HF daily")
    for n in range(5):
        PaperFactory(title=f"Pruning, part {n}").sources.add(carrier)
    client.get("/", {"q": "pruning"})  # builds the recent index

    with django_assert_num_queries(4):  # the index's version (2), the papers, their sources
        page = client.get("/", {"q": "pruning"}).content.decode()
    assert page.count("via HF daily") == 5
