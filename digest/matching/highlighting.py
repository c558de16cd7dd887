"""Mark the words that made a paper match, for the email, the preview and search results.

Returns plain (text, is_hit) segments; templates escape each one and wrap hits in <mark>, so
untrusted titles never reach a page unescaped. A digest run splits and stems each paper's
text once (`IndexedText`) and looks up every subscriber's matched stems in it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

from digest.matching.index import Match
from digest.matching.text import stem_all, word_spans

Segments = list[tuple[str, bool]]
Span = tuple[int, int]


@dataclass(frozen=True)
class IndexedText:
    """A text's words with their offsets, by stem and in word order, so finding a match's
    words (or a prefix's) is a lookup."""

    text: str
    sorted_words: tuple[tuple[str, int, int], ...]  # (folded word, start, end), sorted
    by_stem: dict[str, tuple[Span, ...]]

    @classmethod
    def of(cls, text: str) -> IndexedText:
        words = [(word, start, end) for start, end, word in word_spans(text)]
        stems = stem_all(word for word, _, _ in words)
        by_stem: dict[str, list[Span]] = defaultdict(list)
        for word, start, end in words:
            by_stem[stems[word]].append((start, end))
        return cls(text, tuple(sorted(words)), {s: tuple(spans) for s, spans in by_stem.items()})

    def hits(self, match: Match) -> list[Span]:
        spans = [span for s in match.stems for span in self.by_stem.get(s, ())]
        for prefix in match.prefixes:
            at = bisect_left(self.sorted_words, (prefix,))
            while at < len(self.sorted_words) and self.sorted_words[at][0].startswith(prefix):
                spans.append(self.sorted_words[at][1:])
                at += 1
        return sorted(set(spans))


def _hit_spans(text: str, match: Match, indexed: IndexedText | None) -> list[Span]:
    return (indexed or IndexedText.of(text)).hits(match)


def highlight(text: str, match: Match | None, indexed: IndexedText | None = None) -> Segments:
    """Split text into segments, marking words whose stem (or prefix) made the paper match."""
    if match is None or not (match.stems or match.prefixes):
        return [(text, False)] if text else []
    return _segments(text, _hit_spans(text, match, indexed), 0, len(text))


def _segments(text: str, hits: list[Span], lo: int, hi: int) -> Segments:
    segments: Segments = []
    last = lo
    for start, end in hits:
        if start < lo or end > hi:
            continue
        if start > last:
            segments.append((text[last:start], False))
        segments.append((text[start:end], True))
        last = end
    if last < hi:
        segments.append((text[last:hi], False))
    return segments


def excerpt(
    text: str, match: Match | None, length: int = 320, indexed: IndexedText | None = None
) -> Segments:
    """About `length` characters of text around the first hit, cut at word boundaries."""
    if len(text) <= length:
        return highlight(text, match, indexed)
    active = match is not None and bool(match.stems or match.prefixes)
    hits = _hit_spans(text, match, indexed) if active else []
    first_hit = hits[0][0] if hits else 0
    start = max(0, min(first_hit - length // 4, len(text) - length))
    if start:
        start = text.find(" ", start) + 1 or start
    end = text.rfind(" ", start, start + length)
    end = end if end > start else start + length
    lo, hi = start, end
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    segments = _segments(text, hits, lo, hi)
    if start:
        segments.insert(0, ("… ", False))
    if end < len(text):
        segments.append((" …", False))
    return segments
