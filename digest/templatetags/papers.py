from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from digest.matching import highlighting
from digest.matching.index import Match

register = template.Library()


@register.filter
def highlighted(text: str, match: Match | None) -> SafeString:
    return marked(highlighting.highlight(text or "", match))


@register.filter
def excerpt(text: str, match: Match | None) -> SafeString:
    return marked(highlighting.excerpt(text or "", match))


@register.filter
def marked(segments: highlighting.Segments) -> SafeString:
    """Segments from highlighting, each escaped, the matched words in <mark>: the one place
    highlights become markup, for emails, previews and search."""
    return mark_safe(
        "".join(f"<mark>{escape(text)}</mark>" if hit else escape(text) for text, hit in segments)
    )


@register.filter
def plain(segments: highlighting.Segments) -> str:
    return "".join(text for text, _ in segments)
