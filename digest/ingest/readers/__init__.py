"""Turn a fetched document (arXiv RSS, arXiv API Atom, any RSS/Atom, HF daily JSON) into PaperData.

Pure: bytes in, frozen dataclasses out, no ORM. Every kind lands in the same shape, so the
rest of the pipeline never knows where a paper came from. Bad entries are rejected one by one
with a reason; only a document that is not a feed at all raises FeedError.

Each kind is one module declaring its `KIND` (value, label, detection, address rules, reader);
a new kind is a new module and one entry in `KINDS`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from digest.ingest.readers import arxiv_api, arxiv_rss, feed, hf_daily, markup
from digest.ingest.readers.cleaning import (
    MAX_ABSTRACT,
    MAX_AUTHORS,
    MAX_TITLE,
    clean_text,
)
from digest.ingest.readers.kinds import Kind
from digest.ingest.readers.papers import (
    EntryError,
    FeedError,
    PaperData,
    ParseResult,
    Rejected,
    merge_papers,
)

__all__ = [
    "KINDS",
    "MAX_ABSTRACT",
    "MAX_AUTHORS",
    "MAX_TITLE",
    "EntryError",
    "FeedError",
    "Kind",
    "PaperData",
    "ParseResult",
    "Rejected",
    "address_problem",
    "check_kind",
    "clean_text",
    "detect_kind",
    "kind_from_url",
    "merge_papers",
    "parse",
]

# In Source.Kind's order (reordering them is a migration).
KINDS: dict[str, Kind] = {
    kind.value: kind for kind in (arxiv_rss.KIND, arxiv_api.KIND, feed.KIND, hf_daily.KIND)
}
SNIFF_BYTES = 65536


def parse(body: bytes, kind: str | None = None) -> ParseResult:
    """Parse a document of the given kind (detected when None) into normalized papers; a
    document plainly of another kind is refused with FeedError."""
    if kind and kind not in KINDS:
        raise FeedError(f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind:
        check_kind(body, kind)
    return KINDS[kind or detect_kind(body)].read(body)


def detect_kind(body: bytes) -> str:
    """Guess a document's kind from its first bytes; raise FeedError if it is no feed at all."""
    head = body[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower().decode("latin-1")
    if not head:
        raise FeedError("the document is empty")
    syntax = "json" if head.startswith(("[", "{")) else "xml"
    candidates = [kind for kind in KINDS.values() if kind.syntax == syntax]
    # Specific kinds first: an arXiv listing is also an RSS feed.
    for kind in sorted(candidates, key=lambda kind: kind.generic):
        if kind.recognises(head):
            return kind.value
    if "<html" in head or "<!doctype html" in head:
        raise FeedError(markup.HTML_PAGE)
    raise FeedError(markup.NOT_A_FEED)


def check_kind(body: bytes, kind: str) -> None:
    """Raise FeedError when a document is plainly of another kind than the one chosen: an
    arXiv listing read as a plain feed keeps "arXiv:… Announce Type: …" in every abstract."""
    try:
        detected = KINDS[detect_kind(body)]
    except FeedError:
        return  # not recognisable from its first bytes: the parser will say what is wrong
    chosen = KINDS[kind]
    # A listing on a day without announcements has no arXiv marks and looks like any feed.
    if detected == chosen or (detected.generic and detected.syntax == chosen.syntax):
        return
    raise FeedError(
        f"this is {detected.article}, not {chosen.article}: "
        "set the kind to match, or let it be detected automatically"
    )


def kind_from_url(url: str) -> str | None:
    """The kind a well-known feed address serves, or None when only its content can tell."""
    parts = urlsplit(url.strip())
    host, path = (parts.hostname or "").lower(), parts.path
    return next((kind.value for kind in KINDS.values() if kind.serves(host, path)), None)


def address_problem(kind: str, url: str) -> str:
    """Why a source of this kind cannot be at this address ("" when it can), for the admin."""
    served = kind_from_url(url)
    if served and served != kind:
        other = KINDS[served]
        return (
            f"This address serves {other.article}: choose “{other.label}” "
            "or “Detect automatically”."
        )
    host = (urlsplit(url.strip()).hostname or "").lower()
    return "" if KINDS[kind].lives_on(host) else KINDS[kind].elsewhere
