"""The email kit both apps use: a message rendered from its templates (one render path, with
autoescape), the headers mailbox providers expect of bulk mail, message ids, an email shown as
a web page, and what a mail server's or ESP's failure means for the message.

Templates live in templates/email/<kind>.subject.txt, .txt and .html. The HTML's CSS is inlined
(Gmail drops <style> in many cases); media queries for phones and dark mode stay in a
<style data-css-inline="keep"> block for the clients that honour them.

Messages go through Django's email API, so any backend works unmodified: SMTP, the file
backend, or an ESP's through django-anymail.
"""

from __future__ import annotations

import logging
import smtplib
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import css_inline
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.http import HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

# An email's HTML carries inline styles (Gmail needs them), so its page relaxes the site's
# style policy; scripts stay forbidden.
EMAIL_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def site_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def new_message_id(unique: str | None = None) -> str:
    """A Message-ID on our domain; pass `unique` (random, stored) for a stable one."""
    if unique:
        return f"<{unique}@{site_domain()}>"
    return make_msgid(domain=site_domain())


def build_message(
    kind: str,
    to: str,
    context: dict[str, Any],
    *,
    unsubscribe_url: str = "",
    unsubscribe_mailto: str = "",
    message_id: str = "",
    tags: tuple[str, ...] = (),
    metadata: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    """Render templates/email/<kind>.* into a message with both parts and the headers
    mailbox providers expect of bulk mail."""
    subject, text, html = render_parts(kind, context)
    headers = {
        "Message-ID": message_id or new_message_id(),
        "List-Id": f"{settings.SITE_NAME} <digest.{site_domain()}>",
    }
    if unsubscribe_url:
        targets = [f"<{unsubscribe_url}>"]
        if unsubscribe_mailto:
            targets.append(f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>")
        headers["List-Unsubscribe"] = ", ".join(targets)
        # RFC 8058: mailbox providers POST "List-Unsubscribe=One-Click" to the https URL.
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers=headers
    )
    message.attach_alternative(html, "text/html")
    # Read by django-anymail backends (so ESP events map back to us); other backends ignore them.
    message.tags = list(tags)  # type: ignore[attr-defined]
    message.metadata = metadata or {}  # type: ignore[attr-defined]
    return message


def render_parts(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and HTML (CSS inlined) of templates/email/<kind>.*."""
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"email/{kind}.subject.txt", context).split())
    text = render_to_string(f"email/{kind}.txt", context)
    html = css_inline.inline(
        render_to_string(f"email/{kind}.html", context), load_remote_stylesheets=False
    )
    return subject, text, html


def email_page(message: EmailMultiAlternatives) -> HttpResponse:
    """An email's HTML part served as a page (view in browser, admin previews)."""
    html = next(content for content, kind in message.alternatives if kind == "text/html")
    response = HttpResponse(html)
    response["Content-Security-Policy"] = EMAIL_PAGE_POLICY
    response["X-Robots-Tag"] = "noindex"
    return response


# --- failures -----------------------------------------------------------------------------------


class TransientSendError(Exception):
    """The mail server or ESP cannot take messages now; the rest of the chunk waits."""


class Throttled(TransientSendError):
    """The ESP or mail server says we send too fast (HTTP 429, SES Throttling, SMTP 421/451):
    slow the shared rate and try the same message again."""


class Deferred(TransientSendError):
    """The server will not take this one recipient now (450/452, a full mailbox, greylisting):
    it goes back to planned alone, and the chunk goes on."""


class PermanentSendError(Exception):
    """This one message cannot be delivered (a refused recipient); record it and go on."""


class ClassifyingConnection:
    """Wraps a mail connection so every failure comes out as Throttled, Transient- or
    PermanentSendError; after a failure the next message goes over a fresh connection (an
    SMTP server that answered 421 has closed this one)."""

    def __init__(self, connection: object) -> None:
        self.connection = connection
        self.broken = False

    def __enter__(self) -> ClassifyingConnection:
        self._open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def send_messages(self, messages: list[EmailMultiAlternatives]) -> int:
        if self.broken:
            self._close()
            self._open()
        try:
            return self.connection.send_messages(messages)  # type: ignore[attr-defined]
        except Exception as exc:
            self.broken = True
            raise classify(exc) from exc

    def _open(self) -> None:
        try:
            self.connection.open()  # type: ignore[attr-defined]
        except Exception as exc:
            raise classify(exc) from exc
        self.broken = False

    def _close(self) -> None:
        try:
            self.connection.close()  # type: ignore[attr-defined]
        except Exception:
            log.debug("closing the mail connection failed", exc_info=True)


def open_connection() -> ClassifyingConnection:
    return ClassifyingConnection(mail.get_connection(fail_silently=False))


THROTTLING_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException"}  # SES


def classify(exc: Exception) -> TransientSendError | PermanentSendError:
    """Is this failure about the recipient (permanent), our pace (throttled) or the server
    (try later)?"""
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError(f"recipient refused by the ESP: {exc}")
    if isinstance(exc, AnymailInvalidAddress):
        return PermanentSendError(f"the address cannot be sent to: {exc}")
    if isinstance(exc, AnymailAPIError):
        return _classify_api_error(exc)
    if isinstance(exc, AnymailError | ImproperlyConfigured):
        # Configuration, not this message: every message would fail the same way, so stop
        # the chunk rather than burn through the list (it fails after the last attempt).
        return TransientSendError(f"email is misconfigured: {type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _classify_refused(exc)
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code in (421, 451):
        return Throttled(f"mail server said {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500:
        return PermanentSendError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransientSendError(f"mail server said {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return TransientSendError(f"mail server unavailable: {type(exc).__name__}: {exc}")
    return PermanentSendError(f"could not send: {type(exc).__name__}: {exc}")


def _classify_api_error(exc: AnymailAPIError) -> TransientSendError | PermanentSendError:
    status = getattr(exc, "status_code", None)
    cause = getattr(exc.__cause__, "response", None)
    code = cause.get("Error", {}).get("Code") if isinstance(cause, dict) else None
    if status == 429 or code in THROTTLING_CODES:
        return Throttled(f"the ESP asks us to slow down (HTTP {status}, {code or 'no code'})")
    if status in (400, 406, 413, 422):
        return PermanentSendError(f"the ESP refused this message (HTTP {status}): {exc}")
    return TransientSendError(f"the ESP is unavailable (HTTP {status or 'no response'}): {exc}")


def _classify_refused(
    exc: smtplib.SMTPRecipientsRefused,
) -> TransientSendError | PermanentSendError:
    codes = [code for code, _ in exc.recipients.values()]
    detail = "; ".join(
        f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values()
    )
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentSendError(f"recipient refused: {detail}")
    if codes and all(code in (421, 451) for code in codes):
        return Throttled(f"recipient deferred: {detail}")
    return Deferred(f"recipient deferred: {detail}")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def sent_message_id(message: EmailMultiAlternatives) -> str:
    """The ESP's id when anymail reports one (its webhooks use it), else our Message-ID."""
    status = getattr(message, "anymail_status", None)
    return (
        status.message_id
        if status and status.message_id
        else message.extra_headers.get("Message-ID", "")
    )
