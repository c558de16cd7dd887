from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from digest.delivery import previews
from digest.delivery.links import read_view_token
from digest.matching import recent
from digest.matching.index import Match
from digest.matching.query import QueryError, parse_query
from digest.models import Paper
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


def landing(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:2000]
    page = _page_number(request.GET.get("page"))
    if search:
        return _search_page(request, search, page)
    version = cache.get_or_set("papers-version", recent.papers_version, VERSION_SECONDS)
    return cached_page(
        request,
        "digest/landing.html",
        key=f"landing:{version}:{page}",
        timeout=PAGE_CACHE_SECONDS,
        context=lambda: _listing(page),
    )


def _listing(page: int) -> dict:
    newest_first = Paper.objects.listed().order_by("-first_seen_at", "-id")
    rows = list(newest_first[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    return {
        "form": SignupForm(request=None),
        "page": page,
        "has_next": len(rows) > PAGE_SIZE,
        "days": _by_day((paper, None) for paper in rows[:PAGE_SIZE]),
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


def _search_page(request: HttpRequest, text: str, page: int) -> HttpResponse:
    context = {"form": SignupForm(request=request), "search": text, "page": page}
    if not allow_preview(request):
        context["search_error"] = PREVIEW_LIMITED
        return render(request, "digest/landing.html", context, status=429)
    return render(request, "digest/landing.html", {**context, **_search(text, page)})


def _search(text: str, page: int) -> dict:
    try:
        query = parse_query(text)
    except QueryError as exc:
        return {"search_error": exc.message}
    found, total, searched = recent.shared().preview(query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return {
        "days": [("Best matches", found)] if found else [],
        "search_total": total,
        "searched": searched,
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
