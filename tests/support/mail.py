"""Assertions on sent email: both parts, like healthchecks' assertEmailContains."""

from __future__ import annotations

from html import unescape


def text_and_html(message) -> tuple[str, str]:
    """Both parts of a sent message (Django EmailMultiAlternatives or a parsed MIME message)."""
    if hasattr(message, "alternatives"):
        return message.body, next(c for c, t in message.alternatives if t == "text/html")
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def assert_email_contains(message, fragment: str) -> None:
    """The text is in both parts, as a reader sees them (the HTML's "&#8212;" is "—")."""
    text, html = text_and_html(message)
    assert fragment in text, f"{fragment!r} not in the text part"
    assert fragment in unescape(html), f"{fragment!r} not in the HTML part"


def subject(message) -> str:
    # Django 5.2 folds an encoded Subject onto a continuation line ("Subject:\n =?utf-8?…");
    # mail clients drop that folding space, Python's parser keeps it.
    return str(message["Subject"]).strip()
