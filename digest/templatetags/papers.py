from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from digest import highlighting
from digest.matching import Match

register = template.Library()


def _render(segments: highlighting.Segments) -> SafeString:
    # Every segment is escaped by format_html; only our own <mark> is markup.
    return format_html_join(
        "", "{}", ((format_html("<mark>{}</mark>", s) if hit else s,) for s, hit in segments)
    )


@register.filter
def highlighted(text: str, match: Match | None) -> SafeString:
    return _render(highlighting.highlight(text or "", match))


@register.filter
def excerpt(text: str, match: Match | None) -> SafeString:
    return _render(highlighting.excerpt(text or "", match))


@register.filter
def marked(segments: highlighting.Segments) -> SafeString:
    """Segments from highlighting, the matched words in <mark>."""
    return _render(segments)


@register.filter
def plain(segments: highlighting.Segments) -> str:
    return "".join(text for text, _ in segments)


@register.filter
def plain_excerpt(text: str, length: int = 320) -> str:
    return "".join(s for s, _ in highlighting.excerpt(text or "", None, length))


@register.filter
def linebreaks_indent(text: str, indent: str = "   ") -> str:
    """Indent continuation lines of wrapped plain text to line up under a list item."""
    return text.replace("\n", "\n" + indent)
