"""Email messages: subject, plain text and HTML from templates, with the headers that mailbox
providers expect of bulk mail (List-Unsubscribe, one-click unsubscribe, List-Id, Message-ID).

Templates live in templates/email/<kind>.subject.txt, .txt and .html. The HTML's CSS is
inlined (Gmail drops <style> in many cases); media queries for phones and dark mode stay in a
<style data-css-inline="keep"> block for the clients that honour them.
"""

from __future__ import annotations

from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

_inliner = css_inline.CSSInliner(load_remote_stylesheets=False)


def site_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def new_message_id(local: str | None = None) -> str:
    """A Message-ID on our domain; pass `local` for a stable one (e.g. per delivery)."""
    if local:
        return f"<{local}@{site_domain()}>"
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
    """Render templates/email/<kind>.* into a message with both parts and our headers."""
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"email/{kind}.subject.txt", context).split())
    text = render_to_string(f"email/{kind}.txt", context)
    html = _inliner.inline(render_to_string(f"email/{kind}.html", context))
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
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    # Read by django-anymail backends (so ESP events map back to us); other backends ignore them.
    message.tags = list(tags)  # type: ignore[attr-defined]
    message.metadata = metadata or {}  # type: ignore[attr-defined]
    return message
