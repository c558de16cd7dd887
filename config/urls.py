from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from subscribers.tracking import tracking_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    # The configured ESP's tracking webhook only; it refuses all calls without
    # ANYMAIL_WEBHOOK_SECRET (see subscribers/tracking.py).
    path("anymail/", include((tracking_urls(settings.EMAIL_BACKEND), "anymail"))),
    path("", include("subscribers.urls")),
    path("", include("digest.urls")),
]

handler400 = "lib.errors.bad_request"
handler404 = "lib.errors.page_not_found"
handler500 = "lib.errors.server_error"
