"""The form field subscribers and operators type keywords into: the query parser's message
becomes the field's error."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from digest.matching.query import MAX_LENGTH, QueryError, parse_query

QUERY_PLACEHOLDER = 'federated learning\n"mixture of experts"\npruning -federated'


class QueryField(forms.CharField):
    """Keywords in the query language; the parser's message becomes the field's error (the
    parser also says when they are too long, in its own words)."""

    def __init__(self, *, filters: bool = False, **kwargs: Any) -> None:
        self.filters = filters  # lines of exclusions only are allowed (see query.py)
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
                parse_query(value, filters=self.filters)
            except QueryError as exc:
                raise ValidationError(exc.message, code="query") from None
        return value
