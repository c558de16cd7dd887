from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from digest.console.admin import as_sent_link
from digest.delivery import editions, previews
from digest.matching import learning, vectors
from digest.matching.query import QueryError, parse_query
from digest.matching.query_field import QueryField
from digest.models import Delivery
from lib.adminconfirm import confirm_first
from lib.emails import email_page
from subscribers import csvio, subscriptions
from subscribers.addresses import clean_address, normalize_email
from subscribers.models import EspEvent, Feedback, SeedPaper, StatusChange, Subscriber

SUPPRESSED = (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
HISTORY_LIMIT = 50  # deliveries on a subscriber's page; the delivery list has every one
KEYWORDS_SHOWN = 60  # characters of a subscriber's keywords in the list


class HistoryInline(admin.TabularInline):
    """A subscriber's records, shown read-only: nobody writes them from the admin."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Subscriber | None = None) -> tuple:
        return self.fields  # type: ignore[return-value]

    def has_add_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False


class StatusChangeInline(HistoryInline):
    model = StatusChange
    fields = ("created_at", "from_status", "to_status", "reason")
    verbose_name_plural = "Status history"


class SeedPaperInline(HistoryInline):
    model = SeedPaper
    fields = ("added_at", "title", "arxiv_id", "doi", "paper", "looked_up_at")
    verbose_name_plural = "Seed papers (the reader's own, changed from their preferences page)"


class EspEventInline(HistoryInline):
    model = EspEvent
    fields = ("created_at", "esp", "kind", "matched", "outcome", "detail")
    verbose_name_plural = "ESP events (bounces, complaints, unsubscribes)"


class LatestFormSet(BaseInlineFormSet):
    """Only the latest `limit` rows (the model's ordering is newest first): a reader of some
    years has thousands of deliveries, and the admin would render every one."""

    limit = HISTORY_LIMIT

    def get_queryset(self) -> QuerySet:
        # Sliced once and kept: the admin reads it several times, and its forms index into it.
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.limit]
        return self._queryset


class FeedbackInline(HistoryInline):
    model = Feedback
    formset = LatestFormSet
    fields = ("created_at", "action", "paper", "from_digest")
    verbose_name_plural = f"Feedback (“more / less like this”, the latest {HISTORY_LIMIT})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return super().get_queryset(request).select_related("paper", "delivery__edition")

    @admin.display(description="Clicked in")
    def from_digest(self, feedback: Feedback) -> str:
        # The edition only: the digest's own page would hand out the reader's live links.
        if feedback.delivery is None or feedback.delivery.edition is None:
            return "their preferences page (or a digest since deleted)"
        return str(feedback.delivery.edition)


class DeliveryInline(HistoryInline):
    model = Delivery
    formset = LatestFormSet
    fields = ("created_at", "issue", "status", "sent_at", "papers", "failure_reason", "as_sent")
    verbose_name_plural = f"Deliveries (the latest {HISTORY_LIMIT})"
    template = "admin/subscribers/subscriber/delivery_history.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("edition", "announcement")

    def has_change_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False  # history, read-only as in the delivery admin

    @admin.display(description="Edition or announcement")
    def issue(self, delivery: Delivery) -> str:
        return str(delivery.edition or f"Announcement: {delivery.announcement}")

    @admin.display(description="Papers")
    def papers(self, delivery: Delivery) -> int:
        return len(delivery.paper_ids or ())

    @admin.display(description="Email")
    def as_sent(self, delivery: Delivery) -> str:
        return as_sent_link(delivery, "As sent") or "-"


class ReturningFilter(admin.SimpleListFilter):
    """Complained subscribers who signed up again: they get nothing until an operator lifts
    the suppression."""

    title = "signed up again after a complaint"
    parameter_name = "returning"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Yes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() != "yes":
            return queryset
        return queryset.filter(
            status=Subscriber.Status.COMPLAINED,
            status_changes__reason=subscriptions.RETURN_AFTER_COMPLAINT,
        ).distinct()


class SubscriberAdminForm(forms.ModelForm):
    query = QueryField(required=False, filters=True)

    class Meta:
        model = Subscriber
        fields = (
            "email",
            "query",
            "frequency",
            "per_email",
            "paused",
            "time_zone",
            "send_hour",
            "send_weekday",
            "ranking",
            "listing",
        )

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        if not editions.is_zone(name):
            raise forms.ValidationError(
                "Not a time zone we know: use a name like Europe/Berlin.", code="time_zone"
            )
        return name

    def clean_query(self) -> str:
        # Empty is a choice (the most upvoted papers); lines of exclusions alone need seed
        # papers or an interest (the reader's own) to filter.
        query = self.cleaned_data["query"]
        if not query.strip():
            return query
        if not self.instance.has_profile and not parse_query(query, filters=True).topics:
            try:
                parse_query(query)
            except QueryError as exc:
                raise forms.ValidationError(exc.message, code="query") from None
        return query

    def clean_email(self) -> str:
        address = clean_address(self.cleaned_data["email"])
        known = Subscriber.objects.filter(email_key=normalize_email(address))
        if known.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This address is already a subscriber.", code="known")
        return address


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberAdminForm
    list_display = (
        "email",
        "keywords",
        "status",
        "frequency",
        "per_email",
        "paused",
        "created_at",
        "confirmed_at",
        "last_digest_at",
    )
    list_filter = ("status", "frequency", "paused", ReturningFilter)
    search_fields = ("email", "email_key", "query")
    readonly_fields = (
        "status",
        "email_key",
        "token_version",
        "created_at",
        "confirmation_sent_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_digest_at",
        "interest",
        "profile_model",
        "personalization",
        "next_digest",
    )
    inlines = (
        StatusChangeInline,
        SeedPaperInline,
        FeedbackInline,
        EspEventInline,
        DeliveryInline,
    )
    actions = ("resend_confirmation", "unsubscribe", "lift_suppression", "export_csv")
    change_list_template = "admin/subscribers/subscriber/change_list.html"
    date_hierarchy = "created_at"
    show_full_result_count = False

    def save_model(
        self,
        request: HttpRequest,
        obj: Subscriber,
        form: forms.ModelForm,
        change: bool,  # noqa: FBT001 (Django calls it so)
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:  # pending, with the confirmation email: never active without their click
            subscriptions.add_pending(obj, f"added in the admin by {request.user}")

    def get_inlines(self, request: HttpRequest, obj: Subscriber | None) -> tuple:
        # Someone being added has had nothing delivered or rated: no empty tables there.
        later = (FeedbackInline, DeliveryInline)
        return self.inlines if obj else tuple(i for i in self.inlines if i not in later)

    def get_urls(self) -> list:
        preview = self.admin_site.admin_view(self.preview_view)
        import_view = self.admin_site.admin_view(self.import_view)
        return [
            path("import/", import_view, name="subscribers_subscriber_import"),
            path("<int:pk>/preview/", preview, name="subscribers_subscriber_preview"),
            *super().get_urls(),
        ]

    @admin.display(description="Keywords", ordering="query")
    def keywords(self, subscriber: Subscriber) -> str:
        topics = ", ".join(line.strip() for line in subscriber.query.splitlines() if line.strip())
        shown = Truncator(topics).chars(KEYWORDS_SHOWN)
        if shown == topics:
            return topics or self.get_empty_value_display()
        return format_html('<span title="{}">{}</span>', topics, shown)

    @admin.display(description="Personalization")
    def personalization(self, subscriber: Subscriber) -> str:
        if subscriber.rated_at is None:
            return "no ratings: matched by keywords, seeds and interest"
        installed = vectors.installed()
        if (
            subscriber.learned is not None
            and installed
            and subscriber.learned_with == installed.name
        ):
            return (
                f"their own model is in use (fitted {subscriber.learned_at:%Y-%m-%d %H:%M} UTC "
                f"with {subscriber.learned_with}), on ratings last changed "
                f"{subscriber.rated_at:%Y-%m-%d %H:%M} UTC"
            )
        return (
            "ratings move their profile (no model of their own: that needs "
            f"{learning.MIN_LIKED} “more” and {learning.MIN_DISLIKED} “less”, refitted nightly)"
        )

    @admin.display(description="Next digest")
    def next_digest(self, subscriber: Subscriber) -> str:
        if not subscriber.pk:
            return "-"
        url = reverse("admin:subscribers_subscriber_preview", args=[subscriber.pk])
        return format_html(
            '<a href="{}" target="_blank">Preview the next digest</a> '
            "(as if the edition closed now; nothing is sent)",
            url,
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        # Staff status only opens the admin; the preview shows who they are and what they read.
        if not self.has_view_permission(request):
            raise PermissionDenied
        subscriber = get_object_or_404(Subscriber, pk=pk)
        try:
            message, _ = previews.next_digest(subscriber)
        except QueryError as exc:
            return HttpResponse(
                f"This subscriber's keywords are not valid: {exc.message}",
                content_type="text/plain",
                status=400,
            )
        return email_page(message)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscribers.export_subscribers")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscribers.import_subscribers")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        context = {"can_import": self.has_import_permission(request), **(extra_context or {})}
        return super().changelist_view(request, context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload, check every row, then import on a second click (the file travels in the
        confirmation form, re-checked, so nothing is kept on the server in between)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import subscribers from CSV",
            "max_rows": csvio.MAX_IMPORT_ROWS,
        }
        if request.method != "POST":
            return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)
        upload = request.FILES.get("file")
        data = upload.read(csvio.MAX_IMPORT_BYTES + 1) if upload else request.POST.get("csv", "")
        try:
            rows = csvio.check_import(data)
        except csvio.CsvError as exc:
            context["error"] = str(exc)
            return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)
        if request.POST.get("confirmed") == "yes":
            rows = csvio.run_import(rows, operator=str(request.user))
            created = sum(r.outcome == csvio.Outcome.CREATED for r in rows)
            self.message_user(
                request,
                f"Imported {created} pending subscriber(s); each was sent a confirmation email.",
                messages.SUCCESS,
            )
            context["done"] = True
        context.update(
            rows=rows,
            csv_text=data.decode("utf-8-sig") if isinstance(data, bytes) else data,
            counts={o: sum(r.outcome == o for r in rows) for o in csvio.Outcome.values},
        )
        return TemplateResponse(request, "admin/subscribers/subscriber/import.html", context)

    @admin.action(description="Export as CSV", permissions=["export"])
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        rows = csvio.export_rows(queryset.order_by("pk").iterator(chunk_size=2000))
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
        return response

    @admin.action(
        description="Resend the confirmation email (pending only)", permissions=["change"]
    )
    @confirm_first(
        title="Resend confirmation emails?",
        consequence="Each pending subscriber below gets the confirmation email again "
        "(others in your selection are left alone).",
        button="Yes, send them",
        rows=lambda selected: selected.filter(status=Subscriber.Status.PENDING),
    )
    def resend_confirmation(self, request: HttpRequest, pending: QuerySet[Subscriber]) -> str:
        for subscriber in pending:
            subscriptions.resend_confirmation(subscriber)
        return f"Confirmation emails queued for {pending.count()} pending subscriber(s)."

    @admin.action(description="Unsubscribe", permissions=["change"])
    @confirm_first(
        title="Unsubscribe these people?",
        consequence="They stop getting digests at once. Only they can subscribe again, "
        "through the double opt-in.",
        button="Yes, unsubscribe them",
    )
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> str:
        reason = f"unsubscribed by operator {request.user}"
        done = sum(subscriptions.unsubscribe(s, reason) for s in queryset)
        return f"Unsubscribed {done} subscriber(s)."

    @admin.action(description="Lift a bounce or complaint suppression", permissions=["change"])
    @confirm_first(
        title="Lift these suppressions?",
        consequence="A bounced subscriber who had confirmed gets digests again. One "
        "who complained becomes unsubscribed and is sent a confirmation link: only "
        "their click brings the digest back.",
        button="Yes, lift them",
        rows=lambda selected: selected.filter(status__in=SUPPRESSED),
        reason="Reason (kept in each subscriber's status history):",
        missing_reason="Say why, for the status history.",
    )
    def lift_suppression(
        self, request: HttpRequest, suppressed: QuerySet[Subscriber], *, reason: str
    ) -> str:
        audit = f"suppression lifted by operator {request.user}: {reason}"
        done = sum(subscriptions.lift_suppression(s, audit) for s in suppressed)
        return f"Lifted {done} suppression(s)."


@admin.register(EspEvent)
class EspEventAdmin(admin.ModelAdmin):
    """Every bounce, complaint and unsubscribe an ESP reported, including those about no
    message of ours (possible forgeries, or another sender on the same ESP account)."""

    list_display = ("created_at", "esp", "kind", "recipient", "matched", "outcome")
    list_filter = ("kind", "matched", "esp")
    search_fields = ("recipient", "message_id")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EspEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: EspEvent | None = None) -> bool:
        return False


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


# Operators schedule only what the migrations schedule. Any other registered task (one
# subscriber's email, one chunk of a send), with arguments typed in the admin, would start
# work the web and the planner only start after their checks.
SCHEDULABLE_TASKS = (
    "digest.ingest_all",
    "digest.embed_papers",
    "digest.send_due",
    "digest.send_edition",
    "digest.sweep",
)


class SchedulableTaskForm(PeriodicTaskForm):
    regtask = forms.ChoiceField(
        label="Task", choices=[("", "---------"), *((t, t) for t in SCHEDULABLE_TASKS)]
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("task") not in SCHEDULABLE_TASKS:
            raise forms.ValidationError(
                "Only these tasks run on a schedule: " + ", ".join(SCHEDULABLE_TASKS) + "."
            )
        return data


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class SchedulableTaskAdmin(PeriodicTaskAdmin):
    form = SchedulableTaskForm
