"""Reading XML feeds (RSS 2.0, RSS 1.0, Atom) with feedparser, for the kinds that are XML.

feedparser is forgiving, which we want, and fragile on a few hostile inputs, which we guard
against here so each XML reader only maps an entry to a paper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import feedparser

from digest.ingest.readers.papers import FeedError, PaperData, ParseResult, collect

MAX_ATTRIBUTES = 1_000  # per element
NOT_A_FEED = "not a recognised feed: expected RSS, Atom or Hugging Face JSON"
HTML_PAGE = "this is an HTML web page, not a feed (check the URL)"
_BAD_CHAR_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def read_entries(
    body: bytes,
    read: Callable[[Any], PaperData],
    refuse: Callable[[list[Any]], None] | None = None,
) -> ParseResult:
    """Parse an XML feed and read each entry; `refuse` may reject the document as a whole
    from its entries. A malformed feed keeps the entries that parsed, with a warning."""
    _refuse_attribute_floods(body)
    parsed = _feedparser(body)
    if refuse:
        refuse(parsed.entries)
    result = collect(parsed.entries, read)
    if not parsed.bozo:
        return result
    problem = _bozo_message(parsed.get("bozo_exception"))
    kept = len(result.papers)
    return result.warn(f"the feed is malformed ({problem}); kept the {kept} entries that parsed")


def _refuse_attribute_floods(body: bytes) -> None:
    """feedparser reads attributes through xml.sax, whose lookup by name is a linear scan:
    an element with n attributes costs n² (100,000 took minutes). No feed needs many."""
    if body.count(b"=") <= MAX_ATTRIBUTES:
        return
    for segment in body.split(b"<"):
        if segment.count(b"=") > MAX_ATTRIBUTES:
            raise FeedError(f"an element has over {MAX_ATTRIBUTES:,} attributes; not a real feed")


def _feedparser(body: bytes) -> feedparser.FeedParserDict:
    if b"&#" in body:
        body = _BAD_CHAR_REFERENCE.sub(_replace_bad_reference, body)
    try:
        # We strip every tag ourselves (clean_text), so feedparser's sanitizer is redundant.
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    except (ValueError, LookupError, ArithmeticError, TypeError, AttributeError) as exc:
        # feedparser has crashed on inputs like these (UnicodeEncodeError is a ValueError)
        raise FeedError(f"unreadable feed: the parser failed ({type(exc).__name__})") from None
    if parsed.entries or parsed.get("version"):
        return parsed
    if b"<html" in body[:4096].lower():
        raise FeedError(HTML_PAGE)
    if parsed.bozo:
        raise FeedError(f"unreadable feed: {_bozo_message(parsed.get('bozo_exception'))}")
    raise FeedError(NOT_A_FEED)


def _replace_bad_reference(match: re.Match[bytes]) -> bytes:
    """feedparser crashes on a reference to a surrogate or to no character at all (&#xD800;);
    such references become U+FFFD, as an HTML parser would make them."""
    hex_digits, digits = match.groups()
    if len(hex_digits or digits) > 10:  # and int() refuses decimal strings over 4,300 digits
        return b"&#xFFFD;"
    code = int(hex_digits, 16) if hex_digits else int(digits)
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group()


def _bozo_message(exc: BaseException | None) -> str:
    message = str(exc or "unknown problem").strip().splitlines()[0]
    return message[:300]
