from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch, Value, prefetch_related_objects
from django.db.models.functions import Coalesce, Lower
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from digest.delivery import previews
from digest.delivery.links import read_view_token
from digest.matching import recent
from digest.matching.index import Match, PaperIndex
from digest.matching.query import Query, QueryError, parse_query
from digest.models import Paper, PaperQuerySet, Source
from lib.emails import email_page
from lib.pagecache import cached_page
from subscribers.forms import SignupForm
from subscribers.models import Subscriber
from subscribers.ratelimit import PREVIEW_LIMITED, allow_preview
from subscribers.tokens import BadToken

PAGE_SIZE = 20
# New, hidden and merged papers show within VERSION_SECONDS (see recent.papers_version).
VERSION_SECONDS = 5
PAGE_CACHE_SECONDS = 120
MAX_PAGE = 500


@dataclass(frozen=True)
class Period:
    """A trending period: papers first listed by a source within the last `days` days."""

    value: str
    label: str
    span: str
    days: int


# As HF's Daily, Weekly and Monthly, but rolling windows: the same on every clock and zone.
# Only these three can reach a cache key.
PERIODS = {
    period.value: period
    for period in (
        Period("day", "Today", "the last 24 hours", 1),
        Period("week", "This week", "the last 7 days", 7),
        Period("month", "This month", "the last 30 days", 30),
    )
}


def landing(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:2000]
    page = _page_number(request.GET.get("page"))
    if search:
        return _search_page(request, search, page, None)
    return _cached_listing(request, "landing", page, lambda: _newest(page))


def trending(request: HttpRequest) -> HttpResponse:
    # An unknown or missing period is today's, as the tab's default.
    period = PERIODS.get(request.GET.get("period", ""), PERIODS["day"])
    search = request.GET.get("q", "").strip()[:2000]
    page = _page_number(request.GET.get("page"))
    if search:
        return _search_page(request, search, page, period)
    name = f"trending-{period.value}"
    return _cached_listing(request, name, page, lambda: _trending(period, page))


def _cached_listing(
    request: HttpRequest, name: str, page: int, context: Callable[[], dict]
) -> HttpResponse:
    version = cache.get_or_set("papers-version", recent.papers_version, VERSION_SECONDS)
    return cached_page(
        request,
        "digest/landing.html",
        key=f"{name}:{version}:{page}",
        timeout=PAGE_CACHE_SECONDS,
        context=context,
    )


def _newest(page: int) -> dict:
    rows, has_next = _page_of(Paper.objects.listed().order_by("-first_seen_at", "-id"), page)
    return {
        **_listing_context(page, None, rows, has_next=has_next),
        "days": _by_day((paper, None) for paper in rows),
    }


def _trending(period: Period, page: int) -> dict:
    rows, has_next = _page_of(_trending_papers(period), page)
    heading = f"Most upvoted, first listed in {period.span}"
    return {
        **_listing_context(page, period, rows, has_next=has_next),
        "days": [(heading, [(paper, None) for paper in rows])] if rows else [],
    }


def _trending_papers(period: Period) -> PaperQuerySet:
    """Most upvoted first, papers without upvotes after them, newest first among equals."""
    since = timezone.now() - timedelta(days=period.days)
    return (
        Paper.objects.listed()
        .filter(first_seen_at__gte=since)  # a range of paper_newest_first, then a sort
        .order_by(Coalesce("upvotes", Value(0)).desc(), "-first_seen_at", "-id")
        .defer("embedding")  # the sort carries every row of the period: not their vectors
    )


def _page_of(papers: PaperQuerySet, page: int) -> tuple[list[Paper], bool]:
    # One row past the page says whether there is a next one, without a COUNT.
    start = (page - 1) * PAGE_SIZE
    rows = list(papers.prefetch_related(_carried_by())[start : start + PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def _carried_by() -> Prefetch:
    """Each paper's sources for its "via …", one query for the whole page, by name (their
    case differs: "arXiv cs.LG", "Hugging Face daily papers")."""
    return Prefetch("sources", queryset=Source.objects.only("name").order_by(Lower("name"), "id"))


def _listing_context(
    page: int, period: Period | None, rows: list[Paper], *, has_next: bool
) -> dict:
    context = {
        **_nav(period, ""),
        "form": SignupForm(request=None),
        "page": page,
        "has_next": has_next,
    }
    if page == 1 and not rows:
        context.update(_emptiness(period))
    return context


def _emptiness(period: Period | None) -> dict:
    """Why page 1 is empty: no paper at all (and then, without a source, a fresh install
    whose operator is the one looking), or none in this trending period."""
    no_papers = period is None or not Paper.objects.listed().exists()
    return {"no_papers": no_papers, "fresh_install": no_papers and not Source.objects.exists()}


def _nav(period: Period | None, search: str) -> dict:
    """The tabs' and pager's links; a search travels with them, the page number does not."""
    searched = {"q": search} if search else {}
    paging = {**searched, **({"period": period.value} if period else {})}
    return {
        "view": "trending" if period else "newest",
        "period": period,
        "tab_query": f"?{urlencode(searched)}" if searched else "",
        "periods": [
            (p, "?" + urlencode({"period": p.value, **searched})) for p in PERIODS.values()
        ],
        "paging": urlencode(paging) + "&" if paging else "",
    }


def view_digest(request: HttpRequest, token: str) -> HttpResponse:
    try:
        delivery = read_view_token(token)
    except BadToken:
        return render(request, "bad_link.html", status=400)
    subscriber = delivery.subscriber
    if subscriber.status != Subscriber.Status.ACTIVE:
        # Unsubscribed, bounced or complained: the page would still hand out their links.
        return render(request, "bad_link.html", {"gone": True}, status=410)
    return email_page(previews.delivered_digest(delivery))


def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers (and the web benchmark's ceiling): constant, no database."""
    return HttpResponse("ok\n", content_type="text/plain")


def _search_page(request: HttpRequest, text: str, page: int, period: Period | None) -> HttpResponse:
    context = {
        **_nav(period, text),
        "form": SignupForm(request=request),
        "search": text,
        "page": page,
    }
    if not allow_preview(request):
        context["search_error"] = PREVIEW_LIMITED
        return render(request, "digest/landing.html", context, status=429)
    try:
        query = parse_query(text)
    except QueryError as exc:
        return render(request, "digest/landing.html", {**context, "search_error": exc.message})
    found = _search(query, page) if period is None else _search_trending(query, period, page)
    return render(request, "digest/landing.html", {**context, **found})


def _search(query: Query, page: int) -> dict:
    found, total, searched = recent.shared().preview(query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    prefetch_related_objects([paper for paper, _ in found], _carried_by())
    return {
        "days": [("Best matches", found)] if found else [],
        **_search_counts(total, page),
        "searched": searched,
    }


def _search_trending(query: Query, period: Period, page: int) -> dict:
    # Trending stays trending: the period's papers that match, most upvoted first (not best
    # match first, which is what the Newest tab's search gives).
    index = recent.shared().index()
    positions = _matching_positions(index, query)
    matching = _trending_papers(period).filter(id__in=positions)
    start = (page - 1) * PAGE_SIZE
    rows = list(matching.prefetch_related(_carried_by())[start : start + PAGE_SIZE])
    found = [(p, index.explain(query.topics, positions[p.pk], float(p.upvotes or 0))) for p in rows]
    heading = f"Most upvoted matches, first listed in {period.span}"
    return {
        "days": [(heading, found)] if found else [],
        **_search_counts(matching.count(), page),
        # Search reads the recent index: a longer period is searched only this far back.
        "search_days": settings.PREVIEW_DAYS if period.days > settings.PREVIEW_DAYS else None,
    }


def _matching_positions(index: PaperIndex, query: Query) -> dict[int, int]:
    """The recent index's papers that match any topic: paper id -> position in the index."""
    mask = 0
    for topic in query.topics:
        mask |= index.topic(topic).mask
    bits = bin(mask)[:1:-1]  # character i is bit i, paper i of the index
    return {index.papers[i].id: i for i, bit in enumerate(bits) if bit == "1"}


def _search_counts(total: int, page: int) -> dict:
    return {
        "search_total": total,
        "has_next": total > page * PAGE_SIZE,
        "last_page": -(-total // PAGE_SIZE),
    }


def _by_day(pairs: Iterable[tuple[Paper, Match | None]]) -> list:
    grouped = groupby(pairs, key=lambda pair: pair[0].first_seen_at.date())
    return [(day, list(items)) for day, items in grouped]


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), MAX_PAGE)
    except ValueError:
        return 1
