"""Announcements in the admin: write one, preview it (inert links), send it once to every
receiving subscriber. Sending needs the send_announcement permission and a second click; a
sent announcement is read-only, with its deliveries counted by status."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from digest.delivery import composing
from digest.delivery.links import INERT
from digest.models import Announcement, Delivery
from digest.tasks import send_announcement_task
from lib.adminconfirm import confirm_first
from lib.emails import email_page
from subscribers.models import Subscriber

Status = Delivery.Status


def _receiving() -> int:
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, paused=False).count()


class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ("subject", "created_at", "created_by", "progress")
    readonly_fields = ("created_by", "queued_at", "planned_at", "progress", "preview")
    fields = ("subject", "body", "preview", "created_by", "queued_at", "planned_at", "progress")
    actions = ["send"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Announcement]:
        counts = {
            status: Count("deliveries", filter=Q(deliveries__status=status)) for status in Status
        }
        return super().get_queryset(request).annotate(**counts)

    @admin.display(description="Deliveries")
    def progress(self, note: Announcement) -> str:
        if note.queued_at is None:
            return "Not sent"
        counts = [(s.label.lower(), getattr(note, s, 0)) for s in Status if getattr(note, s, 0)]
        return ", ".join(f"{n} {label}" for label, n in counts) or "Nobody to send to"

    @admin.display(description="Preview")
    def preview(self, note: Announcement) -> str:
        if not note.pk:
            return "Save to preview it."
        url = reverse("admin:digest_announcement_preview", args=[note.pk])
        return format_html(
            '<a href="{}" target="_blank">Preview the email</a> (links disabled)', url
        )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", view, name="digest_announcement_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        note = get_object_or_404(Announcement, pk=pk)
        reader = Subscriber(email="subscriber@example.org")
        return email_page(composing.announcement_message(reader, note, urls=INERT))

    def save_model(
        self,
        request: HttpRequest,
        obj: Announcement,
        form: object,
        change: bool,  # noqa: FBT001 (Django calls it so)
    ) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request: HttpRequest, obj: Announcement | None = None) -> bool:
        # What is being sent, or was, stays as readers get it.
        return super().has_change_permission(request, obj) and (obj is None or not obj.queued_at)

    def has_delete_permission(self, request: HttpRequest, obj: Announcement | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or not obj.queued_at)

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("digest.send_announcement")

    @admin.action(description="Send to every receiving subscriber", permissions=["send"])
    @confirm_first(
        title="Send these announcements?",
        consequence=lambda notes: (
            f"Each is emailed once to every receiving subscriber ({_receiving()} now: active "
            "and not paused), at the shared send rate, with their own unsubscribe link. An "
            "announcement already sent is not sent again."
        ),
        button="Yes, send them",
        rows=lambda notes: notes.filter(queued_at__isnull=True),
    )
    def send(self, request: HttpRequest, queryset: QuerySet[Announcement]) -> str:
        notes = []
        for note in queryset:
            # Claimed first, so a second click (or a second operator) sends nothing more.
            if Announcement.objects.filter(pk=note.pk, queued_at__isnull=True).update(
                queued_at=timezone.now()
            ):
                notes.append(note)
        for note in notes:
            send_announcement_task.delay(note.pk)
        return f"Sending {len(notes)} announcement(s) to {_receiving()} subscribers."
