"""Signed links in emails: one salt per purpose, so a manage link never confirms anything.

Every token carries the subscriber's token_version; bumping it (on re-subscribe, or by an
operator) kills every link sent before. Confirm links expire; the others do not, because an
unsubscribe link in a months-old email must still work.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from functools import lru_cache
from typing import Literal

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

from digest.models import Delivery
from subscribers.models import Subscriber

Purpose = Literal["confirm", "manage", "unsubscribe"]


class BadToken(Exception):
    """Forged, truncated, for another purpose, or from before the subscriber's links were reset."""


class ExpiredToken(Exception):
    """A genuine confirm link that is too old; carries the subscriber so we can offer a resend."""

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__("expired")
        self.subscriber = subscriber


def make_token(subscriber: Subscriber, purpose: Purpose) -> str:
    return _signer(_salt(purpose)).sign_object([subscriber.pk, subscriber.token_version])


def read_token(token: str, purpose: Purpose) -> Subscriber:
    """The subscriber a token belongs to, or BadToken / ExpiredToken."""
    max_age = confirm_max_age() if purpose == "confirm" else None
    try:
        pk, version = signing.loads(token, salt=_salt(purpose), max_age=max_age)
    except signing.SignatureExpired:
        subscriber = _subscriber(signing.loads(token, salt=_salt(purpose)))
        raise ExpiredToken(subscriber) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise BadToken from None
    return _subscriber([pk, version])


def make_view_token(delivery: Delivery) -> str:
    """For "view in browser": one delivery, dead once the subscriber's links are reset."""
    return _signer(_salt("view")).sign_object([delivery.pk, delivery.subscriber.token_version])


def read_view_token(token: str) -> Delivery:
    try:
        pk, version = signing.loads(token, salt=_salt("view"))
        delivery = Delivery.objects.select_related("subscriber", "edition").get(pk=int(pk))
    except (signing.BadSignature, ValueError, TypeError, Delivery.DoesNotExist):
        raise BadToken from None
    if delivery.subscriber.token_version != version:
        raise BadToken
    return delivery


class _KeyedSigner(signing.TimestampSigner):
    """Signs what signing.dumps() signs, with the HMAC key derived once: Django derives it
    (a SHA-256) and sets up a new HMAC for every signature, and a digest signs three links.
    Only for making tokens; reading them goes through signing.loads (fallback keys and all)."""

    def __init__(self, *, key: str, salt: str) -> None:
        super().__init__(key=key, salt=salt)
        # django.utils.crypto.salted_hmac(self.salt + "signer", value, key, "sha256"), less
        # the per-call set-up.
        derived = hashlib.sha256(force_bytes(f"{self.salt}signer") + force_bytes(key)).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value: str, key: str | None = None) -> str:
        if key is not None and key != self.key:
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(value.encode())
        return signing.b64_encode(mac.digest()).decode()


def _signer(salt: str) -> signing.TimestampSigner:
    """What signing.dumps() signs with, kept per salt and key: a digest signs three links,
    and building the signer was a third of the cost."""
    return _signer_for(salt, settings.SECRET_KEY)


@lru_cache(maxsize=32)
def _signer_for(salt: str, key: str) -> signing.TimestampSigner:
    return _KeyedSigner(key=key, salt=salt)


def confirm_max_age() -> timedelta:
    return timedelta(days=settings.CONFIRM_LINK_DAYS)


def _subscriber(payload: object) -> Subscriber:
    try:
        pk, version = payload  # type: ignore[misc]
        subscriber = Subscriber.objects.get(pk=int(pk))
    except (ValueError, TypeError, Subscriber.DoesNotExist):
        raise BadToken from None
    if subscriber.token_version != version:
        raise BadToken
    return subscriber


def _salt(purpose: str) -> str:
    return f"paperdigest.subscribers.{purpose}"
