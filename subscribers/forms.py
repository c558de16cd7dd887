from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from digest.matching.query import MAX_LENGTH, QueryError, parse_query
from subscribers.addresses import clean_address
from subscribers.models import Subscriber
from subscribers.ratelimit import allow, client_ip

PER_EMAIL_CHOICES = [(n, f"{n} papers") for n in (5, 10, 20, 30, 50)]
QUERY_PLACEHOLDER = 'federated learning\n"mixture of experts"\npruning -federated'


class QueryField(forms.CharField):
    """Keywords in the query language; the parser's message becomes the field's error (the
    parser also says when they are too long, in its own words)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Keywords")
        kwargs.setdefault(
            "widget",
            forms.Textarea(
                attrs={
                    "rows": 4,
                    "placeholder": QUERY_PLACEHOLDER,
                    "spellcheck": "false",
                    "autocapitalize": "off",
                    "aria-describedby": "query-help",
                    "maxlength": MAX_LENGTH,
                }
            ),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        # Browsers submit a textarea's newlines as CRLF, but its maxlength counts each as one
        # character: normalise first, so that whatever the browser let through is accepted.
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if value:
            try:
                parse_query(value)
            except QueryError as exc:
                raise ValidationError(exc.message, code="query") from None
        return value


class SignupForm(forms.Form):
    email = forms.CharField(
        label="Email",
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.org"}),
    )
    query = QueryField()
    frequency = forms.ChoiceField(
        choices=Subscriber.Frequency.choices,
        initial="daily",
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

    def __init__(self, *args: Any, request: HttpRequest | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

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


class PreferencesForm(forms.ModelForm):
    query = QueryField()
    per_email = forms.TypedChoiceField(
        choices=PER_EMAIL_CHOICES, coerce=int, label="Papers per email"
    )

    class Meta:
        model = Subscriber
        fields = ["query", "frequency", "per_email", "paused"]
        widgets = {"frequency": forms.RadioSelect}
        labels = {"paused": "Pause my digests for now"}


class PreviewForm(forms.Form):
    query = QueryField(required=False)
