from __future__ import annotations

from django.urls import path

from subscribers import views

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/check-your-inbox/", views.subscribed, name="subscribed"),
    path("subscribe/preview/", views.preview, name="preview"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("confirm/<str:token>/resend/", views.resend, name="resend_confirmation"),
    path("manage/<str:token>/", views.manage, name="manage"),
    path("manage/<str:token>/resubscribe/", views.resubscribe, name="resubscribe"),
    path("manage/<str:token>/preview/", views.manage_preview, name="manage_preview"),
    path("manage/<str:token>/rate/", views.manage_rate, name="manage_rate"),
    path("manage/<str:token>/interest-card/", views.edit_card, name="edit_card"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("feed/<str:token>/", views.feed, name="feed"),
    path("rate/<str:token>/", views.rate, name="rate"),
]
