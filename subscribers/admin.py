from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

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
    )
    inlines = (StatusChangeInline,)
    actions = ("resend_confirmation", "unsubscribe")
    date_hierarchy = "created_at"
    show_full_result_count = False

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
