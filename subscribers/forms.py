from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from digest.delivery import editions
from digest.matching.query import QueryError, parse_query
from digest.matching.query_field import QueryField
from digest.matching.seeds import (
    MAX_LIBRARY_BYTES,
    MAX_SEEDS,
    SeedError,
    SeedList,
    SeedRef,
    parse_library,
    parse_seed_text,
)
from digest.models import Frequency
from subscribers.addresses import clean_address
from subscribers.models import (
    DEFAULT_SEND_HOUR,
    INTEREST_LENGTH,
    PER_EMAIL_CHOICES,
    Listing,
    Ranking,
    Subscriber,
    Weekday,
)
from subscribers.ratelimit import allow, client_ip

SCHEDULE_FIELDS = ("time_zone", "send_hour", "send_weekday", "ranking", "listing")
PREFERENCE_FIELDS = ("query", "frequency", "per_email", "paused", "interest", *SCHEDULE_FIELDS)
SEEDS_PLACEHOLDER = "2405.01234\nhttps://arxiv.org/abs/1706.03762\n10.1145/3292500.3330701"
INTEREST_PLACEHOLDER = "e.g. training models across hospitals that cannot share patient data"


class ProfileFields(forms.Form):
    """Seed papers and a free-text interest beside the keywords: with either, keywords are
    optional, and lines of exclusions only (-survey) are filters. cleaned_data["seed_refs"]
    holds the seeds read from the box and the uploaded file; `seed_notes` what was skipped."""

    query = QueryField(required=False, filters=True)
    seeds = forms.CharField(
        label="Papers you like",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": SEEDS_PLACEHOLDER,
                "spellcheck": "false",
                "autocapitalize": "off",
                "aria-describedby": "seeds-help",
            }
        ),
    )
    library = forms.FileField(
        label="…or upload a BibTeX or Zotero export",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".bib,.bibtex,.json,.ris,.txt"}),
    )
    interest = forms.CharField(
        label="What you work on, in your words",
        required=False,
        max_length=INTEREST_LENGTH,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": INTEREST_PLACEHOLDER,
                "aria-describedby": "interest-help",
            }
        ),
    )
    seed_notes: list[str]

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_interest(self) -> str:
        # Shown back in every digest's footer: no invisible or direction-changing characters.
        text = "".join(
            ch if unicodedata.category(ch)[0] != "C" else " "
            for ch in self.cleaned_data.get("interest") or ""
        )
        return " ".join(text.split())

    def clean_library(self) -> SeedList | None:
        upload = self.cleaned_data.get("library")
        if getattr(self.request, "upload_too_big", False):  # cut off as it arrived
            raise ValidationError(
                f"That file is over {MAX_LIBRARY_BYTES // 1_000_000} MB; export fewer entries.",
                code="too_big",
            )
        if not upload:
            return None
        # Reading a large export takes seconds of a web worker: a few per hour per network.
        if not allow("library-ip", client_ip(self.request), settings.LIBRARY_UPLOADS_PER_HOUR):
            raise ValidationError(
                "Too many uploads from your network in the last hour. Please try again later.",
                code="rate_limited",
            )
        if upload.size > MAX_LIBRARY_BYTES:
            raise ValidationError(
                f"That file is over {MAX_LIBRARY_BYTES // 1_000_000} MB; export fewer entries.",
                code="too_big",
            )
        try:
            return parse_library(upload.read(MAX_LIBRARY_BYTES + 1), upload.name)
        except SeedError as exc:
            raise ValidationError(exc.message, code="library") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        typed = parse_seed_text(data.get("seeds") or "")
        uploaded = data.get("library") or SeedList([], [])
        refs = _merged(typed.refs, uploaded.refs)
        self.seed_notes = [*typed.problems, *uploaded.problems]
        if len(refs) > MAX_SEEDS or typed.truncated or uploaded.truncated:
            self.seed_notes.append(f"We kept your {MAX_SEEDS} most recent seed papers.")
        data["seed_refs"] = refs[:MAX_SEEDS]
        if typed.problems and not typed.refs and (data.get("seeds") or "").strip():
            self.add_error("seeds", typed.problems[0])
        self._require_something(data)
        return data

    def preferences(self) -> dict[str, Any]:
        """What the subscriptions flow takes from this form (after is_valid())."""
        data = self.cleaned_data
        names = [n for n in PREFERENCE_FIELDS if n in self.fields]
        return {**{n: data[n] for n in names}, "seeds": data["seed_refs"]}

    def _require_something(self, data: dict[str, Any]) -> None:
        """Nothing at all is a choice (the most upvoted papers); lines of exclusions alone
        need seeds or an interest to filter."""
        if "query" not in data or self.has_error("query") or not data["query"].strip():
            return
        if data["seed_refs"] or (data.get("interest") or "").strip():
            return
        try:  # without seeds or an interest, the keywords' own rules say what is missing
            parse_query(data["query"])
        except QueryError as exc:
            self.add_error("query", ValidationError(exc.message, code="nothing"))


def _merged(*groups: list[SeedRef]) -> list[SeedRef]:
    seen, merged = set(), []
    for ref in (r for group in groups for r in group):
        identity = ref.arxiv_id or ref.doi or ref.title.casefold()
        if identity not in seen:
            seen.add(identity)
            merged.append(ref)
    return merged


HOUR_CHOICES = [(hour, f"{hour:02d}:00") for hour in range(24)]


class ScheduleFields(forms.Form):
    """When the digest comes (their hour in their time zone; weekly: their weekday), how it is
    ordered, and which arXiv announcements it takes."""

    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "placeholder": "e.g. Europe/Berlin",
                "data-time-zone": "",
                "aria-describedby": "time-zone-help",
            }
        ),
    )
    # Not required: a form from before these fields existed (or with the options closed and
    # stripped by a client) keeps what is stored, or the defaults (see clean()).
    send_hour = forms.TypedChoiceField(
        label="Send at",
        choices=HOUR_CHOICES,
        coerce=int,
        initial=DEFAULT_SEND_HOUR,
        required=False,
        empty_value=None,
    )
    send_weekday = forms.TypedChoiceField(
        label="Weekly digests come on",
        choices=Weekday.choices,
        coerce=int,
        initial=Weekday.MONDAY,
        required=False,
        empty_value=None,
    )
    ranking = forms.ChoiceField(
        label="Order papers",
        choices=Ranking.choices,
        initial=Ranking.RELEVANCE,
        widget=forms.RadioSelect,
        required=False,
    )
    listing = forms.ChoiceField(
        label="From arXiv", choices=Listing.choices, initial=Listing.CROSS, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        stored = getattr(self, "instance", None)
        for name in ("send_hour", "send_weekday", "ranking", "listing"):
            if name in data and data[name] in (None, ""):
                data[name] = getattr(stored, name) if stored else self.fields[name].initial
        return data

    def clean_time_zone(self) -> str:
        # Filled in by the browser (static/js/time-zone.js); without it, what is stored or UTC.
        stored = getattr(getattr(self, "instance", None), "time_zone", "UTC")
        name = (self.cleaned_data.get("time_zone") or "").strip() or stored
        if not editions.is_zone(name):
            raise ValidationError(
                "We don't know that time zone. Use a name like Europe/Berlin, "
                "America/New_York or Asia/Kolkata.",
                code="time_zone",
            )
        return name


class SignupForm(ScheduleFields, ProfileFields):
    email = forms.CharField(
        label="Email",
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.org"}),
    )
    frequency = forms.ChoiceField(
        choices=Frequency.choices,
        initial=Frequency.DAILY,
        widget=forms.RadioSelect,
        label="How often",
    )
    per_email = forms.TypedChoiceField(
        choices=PER_EMAIL_CHOICES, coerce=int, initial=10, label="Papers per email"
    )
    # Left empty by people; bots that fill every field get the success page and no email.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean_email(self) -> str:
        address = clean_address(self.cleaned_data["email"])
        if not allow("signup-ip", client_ip(self.request), settings.SIGNUP_LIMIT_PER_IP):
            raise ValidationError(
                "Too many signups from your network in the last hour. Please try again later.",
                code="rate_limited",
            )
        return address

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class PreferencesForm(ScheduleFields, ProfileFields, forms.ModelForm):
    per_email = forms.TypedChoiceField(
        choices=PER_EMAIL_CHOICES, coerce=int, label="Papers per email"
    )

    class Meta:
        model = Subscriber
        fields = ["query", "interest", "frequency", "per_email", "paused", *SCHEDULE_FIELDS]
        widgets = {"frequency": forms.RadioSelect}
        labels = {"paused": "Pause my digests for now"}

    forget_titled = forms.BooleanField(
        required=False, label="Forget the papers from your file that we know only by title"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seeds = list(self.instance.seeds.all()) if self.instance.pk else []
        # The box shows seeds by arXiv id or DOI; seeds from a file known only by their title
        # are listed beside it and kept unless the reader forgets them.
        self.titled = [s for s in seeds if not (s.arxiv_id or s.doi)]
        if not self.is_bound:
            self.initial["seeds"] = "\n".join(
                s.arxiv_id or s.doi for s in seeds if s not in self.titled
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "seed_refs" in data and not data.get("forget_titled"):
            titled = [SeedRef(title=s.title, label=s.label) for s in self.titled]
            data["seed_refs"] = (data["seed_refs"] + titled)[:MAX_SEEDS]
        return data


class PreviewForm(ProfileFields):
    """What the live preview reads: the same fields (no file) and the same rules."""

    def _require_something(self, data: dict[str, Any]) -> None:
        return None
