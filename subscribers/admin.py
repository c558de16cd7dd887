from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from digest import sending
from digest.query import QueryError
from digest.views import email_page

from subscribers import subscriptions
from subscribers.models import StatusChange, Subscriber


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "reason")
    readonly_fields = fields
    verbose_name_plural = "Status history"

    def has_add_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "status",
        "frequency",
        "per_email",
        "paused",
        "created_at",
        "confirmed_at",
        "last_digest_at",
    )
    list_filter = ("status", "frequency", "paused")
    search_fields = ("email", "email_key")
    readonly_fields = (
        "status",
        "email_key",
        "token_version",
        "created_at",
        "confirmation_sent_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_digest_at",
        "next_digest",
    )
    inlines = (StatusChangeInline,)
    actions = ("resend_confirmation", "unsubscribe")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_urls(self) -> list:
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/preview/", preview, name="subscribers_subscriber_preview"),
                *super().get_urls()]

    @admin.display(description="Next digest")
    def next_digest(self, subscriber: Subscriber) -> str:
        if not subscriber.pk:
            return "-"
        url = reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk])
        return format_html('<a href="{}" target="_blank">Preview the next digest</a> '
                           "(as if the edition closed now; nothing is sent)", url)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        subscriber = get_object_or_404(Subscriber, pk=pk)
        try:
            message, _ = sending.next_digest(subscriber)
        except QueryError as exc:
            return HttpResponse(f"This subscriber's keywords are not valid: {exc.message}",
                                content_type="text/plain", status=400)
        return email_page(message)

    @admin.action(description="Resend the confirmation email (pending only)")
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        pending = queryset.filter(status=Subscriber.Status.PENDING)
        for subscriber in pending:
            subscriptions.resend_confirmation(subscriber)
        self.message_user(
            request,
            f"Confirmation emails queued for {pending.count()} pending subscriber(s).",
            messages.SUCCESS,
        )

    @admin.action(description="Unsubscribe")
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        reason = f"unsubscribed by operator {request.user}"
        done = sum(subscriptions.unsubscribe(s, reason) for s in queryset)
        self.message_user(request, f"Unsubscribed {done} subscriber(s).", messages.SUCCESS)
