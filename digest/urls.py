from __future__ import annotations

from django.urls import path

from digest import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("trending/", views.trending, name="trending"),
    path("healthz", views.healthz, name="healthz"),
    path("digest/<str:token>/", views.view_digest, name="view_digest"),
]
