from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from digest.models import Delivery, Edition, FetchLog, Paper, Source
from digest.tasks import ingest_source_task
from subscribers import links

HEALTH_COLOURS = {
    Source.Status.OK: "#1a7f37",
    Source.Status.NOT_MODIFIED: "#1a7f37",
    Source.Status.ERROR: "#cf222e",
    Source.Status.NEVER: "#6e7781",
}


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "enabled",
        "health",
        "last_fetched",
        "consecutive_failures",
        "paper_count",
    )
    list_filter = ("enabled", "kind", "last_status")
    search_fields = ("name", "url")
    readonly_fields = (
        "last_fetched_at",
        "last_status",
        "last_error",
        "consecutive_failures",
        "etag",
        "last_modified",
        "created_at",
        "recent_fetches",
    )
    exclude = ("content_hash",)
    actions = ("fetch_now",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(paper_total=Count("papers"))

    @admin.display(description="Health", ordering="last_status")
    def health(self, source: Source) -> str:
        label = source.get_last_status_display()
        if source.last_status == Source.Status.ERROR:
            label = f"{label}: {source.last_error[:120]}"
        return format_html(
            '<span style="color:{}">●</span> {}', HEALTH_COLOURS[source.last_status], label
        )

    @admin.display(description="Recent fetches")
    def recent_fetches(self, source: Source) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{log.started_at:%Y-%m-%d %H:%M}",
                    log.get_status_display(),
                    f"{log.new} new, {log.updated} updated, {log.rejected} rejected",
                    log.error,
                )
                for log in source.fetch_logs.all()[:20]
            ),
        )
        return (
            format_html(
                "<table><tr><th>When</th><th>Status</th><th>Papers</th><th>Error</th>"
                "</tr>{}</table>",
                rows,
            )
            if rows
            else "No fetches yet."
        )

    @admin.display(description="Last fetched", ordering="last_fetched_at")
    def last_fetched(self, source: Source) -> str:
        return f"{timesince(source.last_fetched_at)} ago" if source.last_fetched_at else "never"

    @admin.display(description="Papers", ordering="paper_total")
    def paper_count(self, source: Source) -> int:
        return source.paper_total

    @admin.action(description="Fetch now")
    def fetch_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            ingest_source_task.delay(source.pk)
        self.message_user(
            request, f"Queued {queryset.count()} source(s) for fetching.", messages.SUCCESS
        )


@admin.register(FetchLog)
class FetchLogAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "label",
        "status",
        "new",
        "updated",
        "unchanged",
        "rejected",
        "duration_ms",
        "error",
    )
    list_filter = ("status", "source")
    search_fields = ("label", "error")
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FetchLog | None = None) -> bool:
        return False


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ("title_short", "arxiv_id", "source", "first_seen_at", "upvotes", "hidden")
    list_filter = (
        "hidden",
        "source",
        "announce_type",
        ("first_seen_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "abstract", "authors", "key", "arxiv_id")
    date_hierarchy = "first_seen_at"
    readonly_fields = ("key", "first_seen_at", "updated_at", "source")
    list_select_related = ("source",)
    show_full_result_count = False

    @admin.display(description="Title", ordering="title")
    def title_short(self, paper: Paper) -> str:
        return paper.title[:100]


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin):
    list_display = ("label", "window_start", "window_end", "planned_at", "sent", "skipped",
                    "failed", "unfinished")
    list_filter = ("frequency",)
    date_hierarchy = "period"
    readonly_fields = ("frequency", "period", "window_start", "window_end", "created_at",
                       "planned_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Edition]:
        def count(*statuses: str) -> Count:
            return Count("deliveries", filter=Q(deliveries__status__in=statuses))

        return super().get_queryset(request).annotate(
            n_sent=count("sent"), n_skipped=count("skipped"), n_failed=count("failed"),
            n_unfinished=count("planned", "sending"),
        )

    @admin.display(description="Sent", ordering="n_sent")
    def sent(self, edition: Edition) -> int:
        return edition.n_sent

    @admin.display(description="Skipped", ordering="n_skipped")
    def skipped(self, edition: Edition) -> int:
        return edition.n_skipped

    @admin.display(description="Failed", ordering="n_failed")
    def failed(self, edition: Edition) -> int:
        return edition.n_failed

    @admin.display(description="Unfinished", ordering="n_unfinished")
    def unfinished(self, edition: Edition) -> int:
        return edition.n_unfinished

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("edition", "subscriber", "status", "attempts", "sent_at", "failure_reason")
    list_filter = ("status", "edition__frequency", "edition")
    search_fields = ("subscriber__email",)
    list_select_related = ("edition", "subscriber")
    readonly_fields = ("subscriber", "edition", "status", "failure_reason", "paper_ids",
                       "query", "message_id", "attempts", "created_at", "dispatched_at",
                       "claimed_at", "sent_at", "rendered_email")
    show_full_result_count = False

    @admin.display(description="Email")
    def rendered_email(self, delivery: Delivery) -> str:
        if delivery.status != Delivery.Status.SENT:
            return "Only sent deliveries have an email to show."
        return format_html('<a href="{}" target="_blank">View the email as sent</a>',
                           links.view_url(delivery))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False
