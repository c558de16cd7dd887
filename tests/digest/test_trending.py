from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import views
from digest.ingest import sources
from digest.models import Source
from digest.views import PAGE_SIZE
from tests.factories import PaperFactory, SourceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<h3><a href="[^"]*">(.*?)</a></h3>', page)]


def _paper(title: str, *, hours_ago: float = 1, upvotes: int | None = None, **fields):
    return PaperFactory(
        title=title, upvotes=upvotes, first_seen_at=NOW - timedelta(hours=hours_ago), **fields
    )


def _trending(client: Client, **params: str) -> str:
    response = client.get("/trending/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_trending_lists_the_most_upvoted_first_and_papers_without_upvotes_last(client):
    _paper("Older, no upvotes", hours_ago=5)
    _paper("Newer, no upvotes", hours_ago=2, upvotes=0)
    _paper("Ten upvotes", hours_ago=4, upvotes=10)
    _paper("Ninety upvotes", hours_ago=6, upvotes=90)
    _paper("Ten upvotes, newer", hours_ago=3, upvotes=10)

    assert _titles(_trending(client)) == [
        "Ninety upvotes",
        "Ten upvotes, newer",  # ties: newest first
        "Ten upvotes",
        "Newer, no upvotes",  # 0 and none are both "no upvotes": newest first
        "Older, no upvotes",
    ]


def test_the_newest_tab_stays_newest_first(client):
    _paper("Popular but older", hours_ago=5, upvotes=500)
    _paper("Just in", hours_ago=1)

    assert _titles(client.get("/").content.decode()) == ["Just in", "Popular but older"]


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("day", ["Twelve hours ago"]),
        ("week", ["Three days ago", "Twelve hours ago"]),
        ("month", ["Twenty days ago", "Three days ago", "Twelve hours ago"]),
    ],
)
def test_each_period_holds_the_papers_first_listed_within_it(client, period, expected):
    _paper("Twelve hours ago", hours_ago=12, upvotes=1)
    _paper("Three days ago", hours_ago=72, upvotes=2)
    _paper("Twenty days ago", hours_ago=20 * 24, upvotes=3)
    _paper("Forty days ago", hours_ago=40 * 24, upvotes=4)
    _paper("A seed, never listed", upvotes=99, listed=False)
    _paper("Hidden by an operator", upvotes=99, hidden=True)

    assert _titles(_trending(client, period=period)) == expected


def test_a_period_is_counted_by_when_we_first_listed_a_paper_not_its_published_date(client):
    _paper("Published in 2024, listed today", published_at=datetime(2024, 3, 8, tzinfo=UTC))

    page = _trending(client, period="day")

    assert _titles(page) == ["Published in 2024, listed today"]
    assert 'Published <time datetime="2024-03-08">Mar 8, 2024</time>' in page


@pytest.mark.parametrize("period", ["", "year", "DAY", "<script>", "day' OR 1=1"])
def test_an_unknown_period_is_today(client, period):
    _paper("Today's paper", hours_ago=2)
    _paper("Last week's paper", hours_ago=72)

    page = _trending(client, period=period)

    assert _titles(page) == ["Today's paper"]
    assert '<a href="?period=day" aria-current="page">Today</a>' in page
    assert "<script>" not in page


def test_both_views_show_their_tabs_with_the_current_one_marked(client):
    _paper("A paper")

    newest = client.get("/").content.decode()
    week = _trending(client, period="week")

    assert '<a href="/" aria-current="page">Newest</a>' in newest
    assert '<a href="/trending/">Trending</a>' in newest
    assert 'aria-label="Trending period"' not in newest
    assert '<a href="/trending/" aria-current="page">Trending</a>' in week
    assert '<a href="/">Newest</a>' in week
    assert '<a href="?period=day">Today</a>' in week
    assert '<a href="?period=week" aria-current="page">This week</a>' in week
    assert '<a href="?period=month">This month</a>' in week
    assert week.count('aria-current="page"') == 2


def test_trending_pages_like_the_landing_page_and_keeps_its_period(client):
    for n in range(PAGE_SIZE + 5):
        _paper(f"Paper {n}", hours_ago=30, upvotes=n)

    first = _trending(client, period="week")
    second = _trending(client, period="week", page="2")
    past = _trending(client, period="week", page="9")

    assert _titles(first)[:2] == [f"Paper {PAGE_SIZE + 4}", f"Paper {PAGE_SIZE + 3}"]
    assert len(_titles(first)) == PAGE_SIZE
    assert 'href="?period=week&amp;page=2">Fewer upvotes →' in first and "← More" not in first
    assert _titles(second) == [f"Paper {n}" for n in range(4, -1, -1)]
    assert 'href="?period=week&amp;page=1">← More upvoted' in second and "Fewer" not in second
    assert "Page 9 is past the last paper first listed in the last 7 days" in past


def test_trending_shows_each_papers_sources_once(client, data_dir):
    listing = Source.objects.create(
        name="arXiv cs.LG", url="https://rss.arxiv.org/rss/cs.LG", kind=Source.Kind.ARXIV_RSS
    )
    daily = Source.objects.create(
        name="Hugging Face daily papers",
        url="https://huggingface.co/api/daily_papers",
        kind=Source.Kind.HF_DAILY,
    )
    sources.ingest_file(data_dir / "feeds" / "arxiv-rss.xml", source=listing)
    sources.ingest_file(data_dir / "feeds" / "hf-daily.json", source=daily)
    sources.ingest_file(data_dir / "feeds" / "hf-daily.json", source=listing)  # again, by file

    page = _trending(client)

    assert page.count("via arXiv cs.LG and Hugging Face daily papers</p>") == 6
    assert "via arXiv cs.LG, arXiv cs.LG" not in page


def test_trending_follows_the_latest_upvotes_from_the_daily_papers(client, data_dir, clock):
    daily = Source.objects.create(
        name="HF daily", url="https://huggingface.co/api/daily_papers", kind=Source.Kind.HF_DAILY
    )
    path = data_dir / "feeds" / "hf-daily.json"
    sources.ingest_file(path, source=daily)
    before = _titles(_trending(client))
    items = json.loads(path.read_text())
    quiet = next(i for i in items if i["paper"]["title"] == before[-1])
    quiet["paper"]["upvotes"] = 1_000

    clock.shift(timedelta(hours=1))  # the next fetch, an hour on
    result = sources.ingest_body(json.dumps(items).encode(), label="HF daily", source=daily)
    after = _titles(_trending(client))

    assert (result.new, result.updated) == (0, 1)
    assert before[0].startswith("Federated Orthogonal Training")  # 17 upvotes
    assert after[0] == before[-1] and after[1:] == before[:-1]
    assert "▲ 1,000" in _trending(client)


def test_search_within_trending_keeps_the_period_and_orders_by_upvotes(client):
    _paper("Pruning, a little", hours_ago=30, upvotes=3)
    _paper("Pruning pruning pruning, best match", abstract="Pruning.", hours_ago=40, upvotes=1)
    _paper("Pruning, the most upvoted", hours_ago=50, upvotes=40)
    _paper("Pruning last month", hours_ago=10 * 24, upvotes=99)
    _paper("Diffusion this week", abstract="Denoising.", hours_ago=30, upvotes=80)

    page = _trending(client, period="week", q="pruning")

    assert _titles(page) == [
        "<mark>Pruning</mark>, the most upvoted",
        "<mark>Pruning</mark>, a little",
        "<mark>Pruning</mark> <mark>pruning</mark> <mark>pruning</mark>, best match",
    ]
    assert "3 papers first listed in the last 7 days match <strong>pruning</strong>" in page
    assert '<input type="hidden" name="period" value="week">' in page
    assert 'action="/trending/"' in page
    # The tabs keep the search: another period, or the same words by best match.
    assert '<a href="?period=month&amp;q=pruning">This month</a>' in page
    assert '<a href="/?q=pruning">Newest</a>' in page


def test_search_within_a_month_says_how_far_back_it_looks(client, settings):
    settings.PREVIEW_DAYS = 14
    _paper("Pruning, ten days ago", hours_ago=10 * 24, upvotes=2)
    _paper("Pruning, twenty days ago", hours_ago=20 * 24, upvotes=5)

    month = _trending(client, period="month", q="pruning")
    week = _trending(client, period="week", q="pruning")

    assert _titles(month) == ["<mark>Pruning</mark>, ten days ago"]
    assert "Search covers papers first listed in the last 14 days." in month
    assert "Search covers" not in week


def test_search_within_trending_pages_through_its_matches(client):
    for n in range(PAGE_SIZE + 2):
        _paper(f"Pruning study {n}", hours_ago=3, upvotes=n)

    first = _trending(client, q="pruning")
    second = _trending(client, q="pruning", page="2")
    past = _trending(client, q="pruning", page="5")

    assert len(_titles(first)) == PAGE_SIZE
    assert "(page 1 of 2)" in first and 'href="?q=pruning&amp;period=day&amp;page=2"' in first
    assert [t.replace("<mark>Pruning</mark>", "Pruning") for t in _titles(second)] == [
        "Pruning study 1",
        "Pruning study 0",
    ]
    assert "Page 5 is past the last page of results (2)" in past


def test_a_search_in_trending_that_finds_nothing_says_so(client):
    _paper("Diffusion models", abstract="Denoising.", hours_ago=2)

    nothing = _trending(client, q="pruning")
    broken = _trending(client, q='"unclosed')

    assert "No paper first listed in the last 24 hours matches" in nothing
    assert "unmatched quote" in broken


def test_search_within_trending_is_rate_limited_with_the_landing_search(settings):
    settings.PREVIEW_LIMIT_PER_MINUTE = 3
    _paper("Pruning networks")
    mine = Client(REMOTE_ADDR="198.51.100.1")

    codes = [mine.get("/", {"q": "pruning"}).status_code for _ in range(2)]
    codes.append(mine.get("/trending/", {"q": "pruning"}).status_code)
    limited = mine.get("/trending/", {"q": "pruning", "period": "week"})

    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    assert "Please wait a minute" in limited.content.decode()


def test_the_page_cache_keeps_one_entry_per_period_and_page(client):
    _paper("Today's paper", hours_ago=2, upvotes=5)
    _paper("Last week's paper", hours_ago=72, upvotes=9)

    with mock.patch.object(views, "cached_page", wraps=views.cached_page) as cached:
        day = _trending(client, period="day")
        week = _trending(client, period="week")
        for junk in ("year", "x" * 5000, "day&page=3"):
            _trending(client, period=junk, other=junk)
        _trending(client, period="week", page="2")

    keys = [call.kwargs["key"] for call in cached.call_args_list]
    assert {key.split(":")[0] for key in keys} == {"trending-day", "trending-week"}
    assert len(set(keys)) == 3 and max(map(len, keys)) < 60
    assert _titles(day) == ["Today's paper"]
    assert _titles(week) == ["Last week's paper", "Today's paper"]


def test_trending_is_cached_whole_and_sees_a_new_paper_within_seconds(
    client, clock, django_assert_max_num_queries
):
    _paper("First", upvotes=1)
    _trending(client)

    with django_assert_max_num_queries(0):  # the papers version is remembered too
        assert _titles(_trending(client)) == ["First"]
    clock.shift(timedelta(seconds=views.VERSION_SECONDS + 1))
    _paper("Second, more upvoted", upvotes=7, hours_ago=0)

    assert _titles(_trending(client)) == ["Second, more upvoted", "First"]


def test_an_empty_period_points_to_a_longer_one_and_to_the_newest(client):
    _paper("Last week's paper", hours_ago=72)

    page = _trending(client, period="day")

    assert "No paper was first listed in the last 24 hours. Try a longer period" in page
    assert "If you run this site" not in page


def test_trending_on_a_fresh_install_gives_the_operators_hint_and_later_not(client):
    fresh = _trending(client)
    SourceFactory()
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):  # past the page cache
        running = _trending(client)

    assert "No papers yet. If you run this site" in fresh
    assert "add_source arxiv cs.LG" in fresh
    assert "No papers yet. New papers appear here" in running
    assert "manage.py" not in running


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(q=st.text(max_size=300), period=st.text(max_size=40), page=st.text(max_size=20))
def test_no_query_period_or_page_makes_trending_fail(q, period, page):
    PaperFactory.create_batch(2, upvotes=3)
    client = Client(raise_request_exception=False)  # a crash shows as a 500

    for params in ({"period": period, "page": page}, {"q": q, "period": period, "page": page}):
        assert client.get("/trending/", params).status_code in {200, 429}
