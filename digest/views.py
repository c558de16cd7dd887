from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from digest.models import Paper

PAGE_SIZE = 20


def landing(request: HttpRequest) -> HttpResponse:
    papers = Paper.objects.visible().order_by("-first_seen_at", "-id")[:PAGE_SIZE]
    return render(request, "digest/landing.html", {"papers": papers})
