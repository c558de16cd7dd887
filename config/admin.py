"""Our admin site: the dashboard on its index, rate-limited logins, the operator's tools."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from digest import charts, dashboard
from subscribers.ratelimit import allow, client_ip

LOGIN_WINDOW = 15 * 60


class PaperDigestAdminSite(admin.AdminSite):
    site_header = "Paper Digest operations"
    site_title = "Paper Digest admin"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"  # the admin index plus our panels

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().index(request, {**dashboard_context(), **(extra_context or {})})

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Count every attempt, by address and by username: guessing passwords costs hours.
        if request.method == "POST":
            username = request.POST.get("username", "")[:150].lower()
            limit = settings.ADMIN_LOGIN_LIMIT
            if not (
                allow("admin-login-ip", client_ip(request), limit, LOGIN_WINDOW)
                and allow("admin-login-user", username, limit, LOGIN_WINDOW)
            ):
                return TemplateResponse(
                    request,
                    "admin/login_limited.html",
                    {**self.each_context(request), "minutes": LOGIN_WINDOW // 60},
                    status=429,
                )
        return super().login(request, extra_context)

    def get_urls(self) -> list:
        from digest.admin_views import send_test_digest

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
        "frequencies": ["daily", "weekly"],
        "signup_days": days,
        "signups_30d": sum(d.signups for d in days),
        "confirmations_30d": sum(d.confirmations for d in days),
        "chart": chart,
        "editions": dashboard.editions(),
        "health": dashboard.sending_health(),
        "complaint_limit": dashboard.COMPLAINT_LIMIT,
        "sources": dashboard.sources(),
        "service": dashboard.service_status(),
    }
