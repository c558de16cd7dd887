from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from digest.matching.query_field import QueryField
from digest.models import Frequency
from subscribers.addresses import clean_address
from subscribers.models import PER_EMAIL_CHOICES, Subscriber
from subscribers.ratelimit import allow, client_ip


class SignupForm(forms.Form):
    email = forms.CharField(
        label="Email",
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.org"}),
    )
    query = QueryField()
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
