"""Assertions on sent email: both parts, like healthchecks' assertEmailContains."""

from __future__ import annotations


def text_and_html(message) -> tuple[str, str]:
    """Both parts of a sent message (Django EmailMultiAlternatives or a parsed MIME message)."""
    if hasattr(message, "alternatives"):
        return message.body, next(c for c, t in message.alternatives if t == "text/html")
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def assert_email_contains(message, fragment: str) -> None:
    text, html = text_and_html(message)
    assert fragment in text, f"{fragment!r} not in the text part"
    assert fragment in html, f"{fragment!r} not in the HTML part"
