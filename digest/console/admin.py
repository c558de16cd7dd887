from __future__ import annotations

from urllib.parse import urlsplit

from celery import Task
from celery.result import EagerResult
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from digest.console import admin_views, curation
from digest.console.announcements import AnnouncementAdmin
from digest.ingest import arxiv_categories, readers, sources
from digest.ingest.fetching import FetchError
from digest.ingest.readers import FeedError
from digest.models import Announcement, Delivery, Edition, FetchLog, Paper, Source
from digest.tasks import ingest_source_task, resume_unfinished_task, retry_failed_task
from lib.adminconfirm import confirm_first

# The admin's own boolean icons: an inline colour would be refused by our style-src 'self'.
HEALTH_ICONS = {
    Source.Status.OK: "admin/img/icon-yes.svg",
    Source.Status.NOT_MODIFIED: "admin/img/icon-yes.svg",
    Source.Status.ERROR: "admin/img/icon-no.svg",
    Source.Status.NEVER: "admin/img/icon-unknown.svg",
}


AUTO_KIND = "auto"
FAILED = (Delivery.Status.FAILED,)
UNFINISHED = (Delivery.Status.PLANNED, Delivery.Status.SENDING)


def _count(editions: QuerySet[Edition], *statuses: str) -> int:
    return Delivery.objects.filter(edition__in=editions, status__in=statuses).count()


def _hand_over(editions: QuerySet[Edition], statuses: tuple[str, ...], task: Task) -> int:
    """Queue `task` for each edition; how many deliveries it takes on (counted first: eager
    tasks have finished them by the time .delay() returns)."""
    count = _count(editions, *statuses)
    for edition in editions:
        task.delay(edition.pk)
    return count


class SourceForm(forms.ModelForm):
    kind = forms.ChoiceField(
        choices=[(AUTO_KIND, "Detect automatically (recommended)"), *Source.Kind.choices],
        initial=AUTO_KIND,
        help_text="Detected from the address when it is an arXiv or Hugging Face one, else "
        "from what the address serves now (fetched once). The detected kind is what is saved; "
        "a kind the address contradicts is refused, since a listing read as the wrong kind "
        "garbles its abstracts.",
    )

    class Meta:
        model = Source
        fields = ("name", "url", "kind", "enabled")
        labels = {"url": "Address (URL)"}

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        parts = urlsplit(url)
        if url and parts.scheme not in ("http", "https"):
            raise forms.ValidationError("Feeds are fetched over http or https only.")
        if parts.username or parts.password:
            raise forms.ValidationError(
                "Leave credentials out of the URL: they would show in the admin and the logs."
            )
        if url and (clash := self.fetched_by(url)):
            raise forms.ValidationError(clash)
        return url

    def fetched_by(self, url: str) -> str:
        """Why this address cannot be another source ("" when it can)."""
        clash = Source.objects.filter(url=url).exclude(pk=self.instance.pk).first()
        return f"“{clash.name}” already fetches this URL." if clash else ""

    def clean(self) -> dict:
        data = super().clean()
        url, kind = data.get("url"), data.get("kind")
        if kind == AUTO_KIND and url:
            kind = data["kind"] = self.detect_kind(url)
        if url and kind in Source.Kind.values and (problem := readers.address_problem(kind, url)):
            self.add_error("kind", problem)
        return data

    def detect_kind(self, url: str) -> str:
        try:
            return sources.detect_source_kind(url)
        except (FetchError, FeedError) as exc:
            self.add_error("kind", f"Could not detect the kind: {exc}. Choose it yourself.")
            return AUTO_KIND


def _category_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for category in arxiv_categories.categories().values():
        grouped.setdefault(category.group, []).append(
            (category.code, f"{category.code}: {category.name}")
        )
    return list(grouped.items())


class CategoriesField(forms.MultipleChoiceField):
    """arXiv categories by archive; cleans to the chosen Category rows through
    arxiv_categories.choose(), whose message (naming the nearest codes) is the error."""

    widget = forms.SelectMultiple(attrs={"size": 12, "data-category-picker": ""})

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=_category_choices, **kwargs)  # type: ignore[arg-type]

    def valid_value(self, value: str) -> bool:
        return True  # choose() refuses an unknown code, and says which codes are near

    def clean(self, value: object) -> list[arxiv_categories.Category]:
        codes = super().clean(value)
        if not codes:
            return []
        try:
            return arxiv_categories.choose(codes)
        except arxiv_categories.UnknownCategory as exc:
            raise forms.ValidationError(exc.message, code="unknown") from None


class SourceAddForm(SourceForm):
    """The add page: arXiv categories or the Hugging Face daily papers in two clicks (choose,
    save), or any feed's address."""

    categories = CategoriesField(
        label="arXiv categories",
        required=False,
        help_text="One or several (Ctrl-click, ⌘-click on a Mac): they make one rss.arxiv.org "
        "listing.",
    )
    hf_daily = forms.BooleanField(
        label=arxiv_categories.HF_DAILY.name,
        required=False,
        help_text="The papers upvoted on huggingface.co/papers, with their upvotes.",
    )

    class Meta(SourceForm.Meta):
        fields = ("categories", "hf_daily", "name", "url", "kind", "enabled")

    class Media:
        js = ("js/source-picker.js",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Either may be left out when the source is picked above: clean() fills them in.
        self.fields["url"].required = self.fields["name"].required = False
        self.fields["url"].help_text = "Any RSS or Atom feed, an arXiv listing or API query."
        self.fields["name"].help_text = (
            "Leave it blank for picked sources: “arXiv cs.LG cs.CV”, "
            f"“{arxiv_categories.HF_DAILY.name}”."
        )

    def clean(self) -> dict:
        data = self.cleaned_data
        if data.get("categories") or data.get("hf_daily"):
            if picked := self.picked(data):
                data.update(url=picked.url, kind=picked.kind, name=data.get("name") or picked.name)
        elif not (data.get("url") or self.has_error("url") or self.has_error("categories")):
            self.add_error("url", "Choose from the lists above, or give a feed's address.")
        if data.get("url") and not data.get("name") and not self.has_error("name"):
            self.add_error("name", "Name this source.")
        return super().clean()

    def picked(self, data: dict) -> arxiv_categories.Listing | None:
        """The source chosen from the lists, unless something contradicts it (then each
        contradiction is a form error)."""
        chosen, hf_daily = data.get("categories"), data.get("hf_daily")
        if chosen and hf_daily:
            self.add_error(
                None, "Choose arXiv categories or the Hugging Face daily papers: each is a source."
            )
            return None
        field = "categories" if chosen else "hf_daily"
        picked = arxiv_categories.arxiv_listing(chosen) if chosen else arxiv_categories.HF_DAILY
        if data.get("url"):
            self.add_error("url", "Leave the address empty: it is made from what you chose above.")
        elif data.get("kind") not in (AUTO_KIND, picked.kind):
            self.add_error("kind", "Leave the kind to be detected: it is set from what you chose.")
        elif len(picked.url) > Source._meta.get_field("url").max_length:
            self.add_error(field, "Too many categories for one address: make two sources.")
        elif clash := self.fetched_by(picked.url):
            self.add_error(field, clash)
        elif not data.get("name") and (problem := self.name_problem(picked.name)):
            self.add_error("name", problem)
        else:
            return picked
        return None

    def name_problem(self, suggested: str) -> str:
        if len(suggested) > Source._meta.get_field("name").max_length:
            return "Name this source (the categories make too long a name)."
        if Source.objects.filter(name=suggested).exists():
            return f"A source is already named “{suggested}”: name this one."
        return ""


ADD_SOURCE_FIELDSETS = (
    (
        "In two clicks",
        {
            "fields": ("categories", "hf_daily"),
            "description": "Choose one or more arXiv categories, or the Hugging Face daily "
            "papers, then save: the address, kind and name are filled in.",
        },
    ),
    ("Or any feed's address", {"fields": ("url", "kind")}),
    ("Name", {"fields": ("name", "enabled")}),
)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
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
    actions = ("fetch_now", "test_fetch", "enable", "disable")

    def get_form(
        self,
        request: HttpRequest,
        obj: Source | None = None,
        change: bool = False,  # noqa: FBT001, FBT002 (Django calls it so)
        **kwargs: object,
    ) -> type[forms.ModelForm]:
        kwargs.setdefault("form", SourceForm if obj else SourceAddForm)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Source | None = None) -> list:
        return super().get_fieldsets(request, obj) if obj else list(ADD_SOURCE_FIELDSETS)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.test_fetch_view)
        return [
            path("<int:pk>/test-fetch/", view, name="digest_source_test_fetch"),
            *super().get_urls(),
        ]

    def test_fetch_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return admin_views.test_fetch(request, pk, self.admin_site.each_context(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None) -> tuple:
        return (*self.readonly_fields, "test_fetch_link") if obj else self.readonly_fields

    @admin.display(description="Test fetch")
    def test_fetch_link(self, source: Source) -> str:
        url = reverse("admin:digest_source_test_fetch", args=[source.pk])
        return format_html(
            '<a href="{}">Test fetch: show what would be ingested</a> (stores nothing)', url
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(paper_total=Count("papers"))

    @admin.display(description="Health", ordering="last_status")
    def health(self, source: Source) -> str:
        label = source.get_last_status_display()
        if source.last_status == Source.Status.ERROR:
            label = f"{label}: {source.last_error[:120]}"
        return format_html(
            '<img src="{}" alt=""> {}', static(HEALTH_ICONS[source.last_status]), label
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

    @admin.action(description="Fetch now", permissions=["change"])
    def fetch_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        results = [ingest_source_task.delay(source.pk) for source in queryset]
        # With tasks in-process (eager, no worker) the fetch has already run: say how it went.
        done = [result.get() for result in results if isinstance(result, EagerResult)]
        for summary in done:
            self.message_user(request, f"Fetched {summary}", messages.INFO)
        if queued := len(results) - len(done):
            self.message_user(
                request,
                f"Queued {queued} source(s) for fetching by a worker; their recent fetches "
                "show the outcome.",
                messages.SUCCESS,
            )

    @admin.action(
        description="Test fetch (show what would be ingested, store nothing)",
        permissions=["change"],
    )
    def test_fetch(self, request: HttpRequest, queryset: QuerySet[Source]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Choose one source to test.", messages.WARNING)
            return None
        return admin_views.test_fetch(
            request, queryset.get().pk, self.admin_site.each_context(request)
        )

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        done = queryset.update(enabled=True)
        self.message_user(request, f"Enabled {done} source(s).", messages.SUCCESS)

    @admin.action(description="Disable (stop fetching)", permissions=["change"])
    @confirm_first(
        title="Disable these sources?",
        consequence="They will not be fetched until enabled again; their papers stay.",
        button="Yes, disable them",
    )
    def disable(self, request: HttpRequest, queryset: QuerySet[Source]) -> str:
        return f"Disabled {queryset.update(enabled=False)} source(s)."


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


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        # The most common categories among recent papers (a bounded sample, not a full scan).
        counts: dict[str, int] = {}
        for categories in Paper.objects.values_list("categories", flat=True)[:3000]:
            for category in categories or ():
                counts[category] = counts.get(category, 0) + 1
        top = sorted(counts, key=lambda c: (-counts[c], c))[:20]
        return [(c, c) for c in sorted(top)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        if self.value() and not self.value().isprintable():
            # No category holds control characters, and PostgreSQL refuses a NUL outright:
            # the admin's "incorrect lookup" answer instead of a server error.
            raise IncorrectLookupParameters("a category has no control characters")
        if self.value():
            # Works on SQLite and PostgreSQL alike: the quoted name in the JSON text.
            return queryset.filter(categories__icontains=f'"{self.value()}"')
        return queryset


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ("title_short", "arxiv_id", "source", "first_seen_at", "upvotes", "hidden")
    list_filter = (
        "hidden",
        "source",
        CategoryFilter,
        "announce_type",
        ("first_seen_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "abstract", "authors", "key", "arxiv_id")
    date_hierarchy = "first_seen_at"
    readonly_fields = (
        "key",
        "first_seen_at",
        "updated_at",
        "source",
        "sources",
        "merged_into",
        "embedded_with",
    )
    list_select_related = ("source",)
    show_full_result_count = False
    actions = ("hide", "unhide", "merge_papers")

    def save_model(
        self,
        request: HttpRequest,
        obj: Paper,
        form: forms.ModelForm,
        change: bool,  # noqa: FBT001 (Django calls it so)
    ) -> None:
        # An edited title or abstract no longer says what the vector says: the next embedding
        # run redoes it (as ingest does for a changed text).
        if change and {"title", "abstract"} & set(form.changed_data):
            obj.embedding, obj.embedded_with = None, ""
        super().save_model(request, obj, form, change)

    @admin.action(description="Hide from digests and the site", permissions=["change"])
    @confirm_first(
        title="Hide these papers?",
        consequence="They will not appear in any digest, the landing page or previews "
        "until shown again.",
        button="Yes, hide them",
    )
    def hide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> str:
        return f"Hid {curation.set_hidden(queryset, hidden=True)} paper(s)."

    @admin.action(description="Show again", permissions=["change"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        done = curation.set_hidden(queryset, hidden=False)
        self.message_user(request, f"{done} paper(s) shown again.", messages.SUCCESS)

    @admin.action(description="Merge duplicates…", permissions=["change"])
    def merge_papers(self, request: HttpRequest, queryset: QuerySet[Paper]) -> HttpResponse | None:
        papers = list(queryset[:20])
        if len(papers) < 2:
            self.message_user(request, "Choose two or more papers to merge.", messages.WARNING)
            return None
        return admin_views.merge_papers(request, papers, self.admin_site.each_context(request))

    @admin.display(description="Title", ordering="title")
    def title_short(self, paper: Paper) -> str:
        return paper.title[:100]


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin):
    list_display = (
        "label",
        "window_start",
        "window_end",
        "planned_at",
        "sent",
        "skipped",
        "failed",
        "unfinished",
        "deliveries",
    )
    list_filter = ("frequency",)
    date_hierarchy = "period"
    readonly_fields = (
        "frequency",
        "period",
        "window_start",
        "window_end",
        "created_at",
        "planned_at",
        "sent",
        "skipped",
        "failed",
        "unfinished",
        "deliveries",
        "failure_reasons",
    )
    actions = ("retry_failed", "resume_unfinished")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Edition]:
        def count(*statuses: str) -> Count:
            return Count("deliveries", filter=Q(deliveries__status__in=statuses))

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_sent=count(Delivery.Status.SENT),
                n_skipped=count(Delivery.Status.SKIPPED),
                n_failed=count(*FAILED),
                n_unfinished=count(*UNFINISHED),
            )
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

    @admin.display(description="Deliveries")
    def deliveries(self, edition: Edition) -> str:
        url = reverse("admin:digest_delivery_changelist") + f"?edition__id__exact={edition.pk}"
        return format_html('<a href="{}">All deliveries</a>', url)

    @admin.display(description="Why deliveries failed or were skipped")
    def failure_reasons(self, edition: Edition) -> str:
        rows = (
            Delivery.objects.filter(edition=edition, status__in=[*FAILED, Delivery.Status.SKIPPED])
            .values_list("status", "failure_reason")
            .annotate(n=Count("id"))
            .order_by("-n")[:20]
        )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        if not body:
            return "None."
        return format_html(
            "<table><tr><th>Status</th><th>Reason</th><th>Deliveries</th></tr>{}</table>", body
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Edition | None = None) -> bool:
        return False  # history is read-only; "retry failed" and "resume" are actions

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("digest.retry_edition")

    @admin.action(description="Retry failed deliveries", permissions=["retry"])
    @confirm_first(
        title="Retry failed deliveries?",
        consequence=lambda editions: (
            f"{_count(editions, *FAILED)} failed deliveries get a "
            "fresh set of attempts and are sent again now. Deliveries already sent are never "
            "sent twice."
        ),
        button="Yes, retry them",
    )
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Edition]) -> str:
        return f"Retrying {_hand_over(queryset, FAILED, retry_failed_task)} failed deliveries."

    @admin.action(description="Resume unfinished deliveries", permissions=["retry"])
    @confirm_first(
        title="Resume unfinished deliveries?",
        consequence=lambda editions: (
            f"{_count(editions, *UNFINISHED)} unfinished deliveries "
            "are handed to workers now, those a stopped worker held included. One a live worker "
            "is sending is left to it; none is sent twice."
        ),
        button="Yes, resume them",
    )
    def resume_unfinished(self, request: HttpRequest, queryset: QuerySet[Edition]) -> str:
        resumed = _hand_over(queryset, UNFINISHED, resume_unfinished_task)
        return f"Resuming {resumed} unfinished deliveries."


def as_sent_link(delivery: Delivery, text: str = "View the email as sent") -> str:
    """A link to the admin's page of a sent delivery's email, its links disabled ("" for a
    delivery not sent). Ours, never the subscriber's view-in-browser link: that one carries
    their token."""
    if delivery.status != Delivery.Status.SENT:
        return ""
    url = reverse("admin:digest_delivery_as_sent", args=[delivery.pk])
    return format_html('<a href="{}" target="_blank">{}</a> (its links disabled)', url, text)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "edition",
        "announcement",
        "subscriber",
        "status",
        "attempts",
        "sent_at",
        "failure_reason",
    )
    list_filter = ("status", "edition__frequency", "edition", "announcement")
    search_fields = ("subscriber__email",)
    list_select_related = ("edition", "announcement", "subscriber")
    readonly_fields = (
        "subscriber",
        "edition",
        "announcement",
        "period",
        "window_start",
        "status",
        "failure_reason",
        "paper_ids",
        "query",
        "message_id",
        "attempts",
        "created_at",
        "dispatched_at",
        "claimed_at",
        "sent_at",
        "rendered_email",
    )
    show_full_result_count = False

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.as_sent_view)
        return [
            path("<int:pk>/as-sent/", view, name="digest_delivery_as_sent"),
            *super().get_urls(),
        ]

    def as_sent_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return admin_views.delivery_as_sent(pk)

    @admin.display(description="Email")
    def rendered_email(self, delivery: Delivery) -> str:
        return as_sent_link(delivery) or "Only sent deliveries have an email to show."

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False


admin.site.register(Announcement, AnnouncementAdmin)
