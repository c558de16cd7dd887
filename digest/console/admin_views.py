"""Admin pages that are not a model's list or form: send a test digest, test-fetch a source,
merge duplicate papers, show a delivery as sent. Each is a thin view over a domain function."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from digest.console import curation
from digest.delivery import composing, previews
from digest.delivery.links import INERT
from digest.ingest import sources
from digest.matching.query_field import QueryField
from digest.models import Delivery, Frequency, Paper, Source
from digest.tasks import send_test_digest_task
from lib.emails import email_page
from subscribers.addresses import clean_address
from subscribers.models import PER_EMAIL_CHOICES, Subscriber


class TestDigestForm(forms.Form):
    subscriber_email = forms.CharField(
        label="A subscriber's address",
        required=False,
        help_text="Their own keywords and settings; the test goes to the address below, never "
        "to them, and its links are disabled.",
    )
    query = QueryField(label="Or keywords", required=False)
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.DAILY)
    per_email = forms.TypedChoiceField(
        label="Papers", choices=PER_EMAIL_CHOICES, coerce=int, initial=10
    )
    to = forms.CharField(label="Send to", required=False, help_text="Your own address if empty")

    def __init__(self, data: object = None, *, operator_email: str = "") -> None:
        super().__init__(data, initial={"to": operator_email})
        self.operator_email = operator_email

    def clean(self) -> dict:
        data = super().clean()
        email, query = data.get("subscriber_email", "").strip(), data.get("query", "")
        if bool(email) == bool(query):
            raise forms.ValidationError("Give either a subscriber's address or keywords.")
        if email:
            subscriber = Subscriber.objects.filter(email__iexact=email).first()
            if subscriber is None:
                self.add_error("subscriber_email", "No subscriber has that address.")
            data["subscriber"] = subscriber
        self.clean_recipient(data)
        return data

    def clean_recipient(self, data: dict) -> None:
        # The operator's own inbox by default: a test in a subscriber's inbox would look like
        # a second digest to them.
        to = data.get("to", "").strip() or self.operator_email
        if not to:
            self.add_error("to", "Your account has no email address: say where the test goes.")
            return
        try:
            data["to"] = clean_address(to)
        except forms.ValidationError as exc:
            self.add_error("to", exc)


def send_test_digest(request: HttpRequest) -> HttpResponse:
    """Staff only (wrapped in admin_view by the site); needs the send_test_digest permission."""
    if not request.user.has_perm("digest.send_test_digest"):
        raise PermissionDenied
    form = TestDigestForm(request.POST or None, operator_email=request.user.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        subscriber = data.get("subscriber")
        send_test_digest_task.delay(
            data["to"],
            subscriber_id=subscriber.pk if subscriber else None,
            query=data["query"],
            per_email=data["per_email"],
            frequency=data["frequency"],
        )
        messages.success(
            request,
            f"A test digest is on its way to {data['to']}. It is marked [Test] and is not "
            "counted as an edition's delivery.",
        )
        return redirect("admin:send_test_digest")
    return TemplateResponse(
        request,
        "admin/digest/send_test_digest.html",
        {**admin.site.each_context(request), "title": "Send a test digest", "form": form},
    )


def delivery_as_sent(delivery_id: int) -> HttpResponse:
    """A sent digest (or announcement) rebuilt for an operator, the subscriber's links inert."""
    delivery = get_object_or_404(Delivery, pk=delivery_id, status=Delivery.Status.SENT)
    if delivery.announcement_id:
        return email_page(
            composing.announcement_message(delivery.subscriber, delivery.announcement, urls=INERT)
        )
    return email_page(previews.delivered_digest(delivery, inert=True))


def test_fetch(request: HttpRequest, source_id: int, site_context: dict) -> HttpResponse:
    """Fetching is a request from our server, so it takes a POST from someone who may change
    sources; a GET shows the button. Bounded by the fetch deadline (FETCH_TIMEOUT_SECONDS)."""
    if not request.user.has_perm("digest.change_source"):
        raise PermissionDenied
    source = get_object_or_404(Source, pk=source_id)
    result = sources.dry_run(source) if request.method == "POST" else None
    return TemplateResponse(
        request,
        "admin/digest/source/test_fetch.html",
        {
            **site_context,
            "title": f"Test fetch of {source.name}",
            "source": source,
            "result": result,
            "opts": Source._meta,
        },
    )


class MergeForm(forms.Form):
    keep = forms.ModelChoiceField(
        queryset=Paper.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        label="Keep this one",
    )

    def __init__(self, papers: list[Paper], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["keep"].queryset = Paper.objects.filter(pk__in=[p.pk for p in papers])
        self.fields["keep"].label_from_instance = lambda p: (
            f"{p.title} — {p.key}, first seen {p.first_seen_at:%Y-%m-%d}"
        )


def merge_papers(
    request: HttpRequest, papers: list[Paper], site_context: dict
) -> HttpResponse | None:
    """The merge action's two steps: choose the paper to keep, then merge. None when done."""
    form = MergeForm(papers, request.POST if "keep" in request.POST else None)
    if form.is_bound and form.is_valid():
        keep = form.cleaned_data["keep"]
        merged = curation.merge(keep, papers)
        messages.success(
            request, f"Merged {merged} duplicate(s) into “{keep.title[:80]}”; they are hidden."
        )
        return None
    return TemplateResponse(
        request,
        "admin/digest/paper/merge.html",
        {
            **site_context,
            "title": "Merge duplicate papers",
            "form": form,
            "papers": papers,
            "opts": Paper._meta,
        },
    )
