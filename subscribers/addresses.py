"""Email addresses as people type them: validated strictly, compared normalized."""

from __future__ import annotations

import contextlib
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # RFC 5321 path limit
# Each of these could smuggle a second recipient or a header into a message.
_NOT_PLAIN = set('",;<>()[]\\')


def clean_address(raw: str) -> str:
    """The address to store (as typed, trimmed), or ValidationError with a helpful message."""
    value = raw.strip()
    if not value:
        raise ValidationError("Enter your email address.", code="required")
    if len(value) > MAX_LENGTH:
        raise ValidationError("That address is too long for email.", code="too_long")
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in value) or " " in value:
        raise ValidationError(
            "Email addresses can't contain spaces or control characters.", code="control"
        )
    if _NOT_PLAIN.intersection(value):
        raise ValidationError("Enter one plain address, like ada@example.org.", code="not_plain")
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError(
            "Enter a valid email address, like ada@example.org.", code="invalid"
        ) from None
    if (
        "." not in value.rpartition("@")[2]
    ):  # Django allows @localhost; the public cannot get mail there
        raise ValidationError("Enter a valid email address, like ada@example.org.", code="invalid")
    return value


def normalize_email(address: str) -> str:
    """Comparison key: lower case, domain in its ASCII (IDNA) form."""
    local, _, domain = address.strip().rpartition("@")
    with contextlib.suppress(UnicodeError):  # not encodable: compare it as typed
        domain = domain.encode("idna").decode("ascii")
    return f"{local.casefold()}@{domain.lower()}"
