"""Our admin site: the dashboard on its index, rate-limited logins, the operator's tools."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path

from digest.console import charts, dashboard
from digest.models import Frequency
from subscribers.ratelimit import client_ip, count_one, counted, forget

LOGIN_WINDOW = 15 * 60


class PaperDigestAdminSite(admin.AdminSite):
    site_header = "Paper Digest operations"
    site_title = "Paper Digest admin"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"  # the admin index plus our panels

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The panels show the whole service: for those who may view editions, not every
        # staff login (one in no group sees Django's "no permission" index).
        panels = dashboard_context() if request.user.has_perm("digest.view_edition") else {}
        return super().index(request, {**panels, **(extra_context or {})})

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Wrong passwords are counted per (address, username): guessing costs hours, while a
        # stranger cannot lock an operator out and correct logins are never refused.
        if request.method != "POST":
            return super().login(request, extra_context)
        attempt = f"{client_ip(request)} {request.POST.get('username', '')[:150].lower()}"
        if counted("admin-login", attempt, LOGIN_WINDOW) >= settings.ADMIN_LOGIN_LIMIT:
            return self.refuse_login(request)
        response = super().login(request, extra_context)
        if isinstance(response, HttpResponseRedirect) and request.user.is_authenticated:
            forget("admin-login", attempt, LOGIN_WINDOW)
        else:
            count_one("admin-login", attempt, LOGIN_WINDOW)
        return response

    def refuse_login(self, request: HttpRequest) -> HttpResponse:
        context = {**self.each_context(request), "minutes": LOGIN_WINDOW // 60}
        return TemplateResponse(request, "admin/login_limited.html", context, status=429)

    def get_urls(self) -> list:
        from digest.console.admin_views import send_test_digest

        view = self.admin_view(send_test_digest)
        return [path("send-test-digest/", view, name="send_test_digest"), *super().get_urls()]


def dashboard_context() -> dict[str, Any]:
    days = dashboard.daily_signups()
    chart = charts.daily_bars(
        [d.day for d in days],
        [
            ("Signups", "signups", [d.signups for d in days]),
            ("Confirmations", "confirmations", [d.confirmations for d in days]),
        ],
    )
    return {
        "subscribers": dashboard.subscriber_table(),
        "frequencies": Frequency.values,
        "signup_days": days,
        "signups_30d": sum(d.signups for d in days),
        "confirmations_30d": sum(d.confirmations for d in days),
        "chart": chart,
        "editions": dashboard.editions(),
        "learning": dashboard.learning(),
        "send_rate": settings.SEND_RATE_PER_SECOND,
        "send_concurrency": settings.SEND_CONCURRENCY,
        "health": dashboard.sending_health(),
        "complaint_limit": dashboard.COMPLAINT_LIMIT,
        "sources": dashboard.sources(),
        "service": dashboard.service_status(),
    }
