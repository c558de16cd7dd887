"""Mark the words that made a paper match, for the email, the preview and search results.

Returns plain (text, is_hit) segments; templates escape each one and wrap hits in <mark>, so
untrusted titles never reach a page unescaped.
"""

from __future__ import annotations

from digest.matching import Match
from digest.text import stem, word_spans

Segments = list[tuple[str, bool]]


def highlight(text: str, match: Match | None) -> Segments:
    """Split text into segments, marking words whose stem (or prefix) made the paper match."""
    if match is None or not (match.stems or match.prefixes):
        return [(text, False)] if text else []
    segments: Segments = []
    last = 0
    for start, end, word in word_spans(text):
        if stem(word) in match.stems or word.startswith(match.prefixes):
            if start > last:
                segments.append((text[last:start], False))
            segments.append((text[start:end], True))
            last = end
    if last < len(text):
        segments.append((text[last:], False))
    return segments


def excerpt(text: str, match: Match | None, length: int = 320) -> Segments:
    """About `length` characters of text around the first hit, cut at word boundaries."""
    if len(text) <= length:
        return highlight(text, match)
    first_hit = _first_hit(text, match)
    start = max(0, min(first_hit - length // 4, len(text) - length))
    if start:
        start = text.find(" ", start) + 1 or start
    end = text.rfind(" ", start, start + length)
    end = end if end > start else start + length
    segments = highlight(text[start:end].strip(), match)
    if start:
        segments.insert(0, ("… ", False))
    if end < len(text):
        segments.append((" …", False))
    return segments


def _first_hit(text: str, match: Match | None) -> int:
    if match is None:
        return 0
    for start, _, word in word_spans(text):
        if stem(word) in match.stems or word.startswith(match.prefixes):
            return start
    return 0
