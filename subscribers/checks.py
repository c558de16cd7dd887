"""Deploy checks (`manage.py check --deploy`) for what would make mail unsafe or undeliverable
in production; the embedded defaults, meant for a laptop, would each fail one."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from subscribers.tracking import tracking_urls, webhook_secret_configured

DEVELOPMENT_BACKENDS = {
    f"django.core.mail.backends.{name}.EmailBackend"
    for name in ("filebased", "console", "locmem", "dummy")
}


def check_webhook_secret(**kwargs: Any) -> list[CheckMessage]:
    """The ESP's tracking webhook refuses every event until it has a secret, so bounces and
    complaints would go unrecorded and mail would keep going to them."""
    if not tracking_urls(settings.EMAIL_BACKEND) or webhook_secret_configured():
        return []
    return [
        Error(
            "The ESP's tracking webhook has no secret, so it refuses every bounce and complaint.",
            hint="Set ANYMAIL_WEBHOOK_SECRET=user:password and put the same credentials in "
            "the webhook URL you give the ESP (https://user:password@your.site/anymail/...).",
            id="subscribers.E001",
        )
    ]


def check_email_backend(**kwargs: Any) -> list[CheckMessage]:
    """With DEBUG off, a backend that writes files or drops messages delivers no email."""
    if settings.DEBUG or settings.EMAIL_BACKEND not in DEVELOPMENT_BACKENDS:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no email would reach anyone.",
            hint="Use an anymail ESP backend (e.g. anymail.backends.postmark.EmailBackend) "
            "or SMTP (django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST).",
            id="subscribers.E002",
        )
    ]


def check_sender_domain(**kwargs: Any) -> list[CheckMessage]:
    """Mail from a local-only domain fails SPF and DMARC, and ESPs refuse unverified senders."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower().rstrip(".")
    if "." in domain and domain != "localhost" and not domain.endswith(".localhost"):
        return []
    return [
        Error(
            f"DEFAULT_FROM_EMAIL ({settings.DEFAULT_FROM_EMAIL}) is not at a public domain.",
            hint="Set DEFAULT_FROM_EMAIL to an address at your domain, verified with your ESP.",
            id="subscribers.E003",
        )
    ]
