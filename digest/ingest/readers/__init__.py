"""Turn a fetched document (arXiv RSS, arXiv API Atom, any RSS/Atom, HF daily JSON) into PaperData.

Pure: bytes in, frozen dataclasses out, no ORM. Every kind lands in the same shape, so the
rest of the pipeline never knows where a paper came from. Bad entries are rejected one by one
with a reason; only a document that is not a feed at all raises FeedError.
"""

from __future__ import annotations

import calendar
import html
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import nh3

from digest.ingest.identifiers import (
    ArxivRef,
    canonical_key,
    find_arxiv_id,
    find_doi,
    parse_arxiv_id,
)

KINDS = ("arxiv-rss", "arxiv-api", "feed", "hf-daily")
KIND_NAMES = {
    "arxiv-rss": "an arXiv RSS listing",
    "arxiv-api": "an arXiv API (Atom) response",
    "feed": "an RSS or Atom feed",
    "hf-daily": "Hugging Face daily papers JSON",
}
MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_AUTHORS = 200
MAX_NAME = 200
MAX_CATEGORIES = 20
MAX_ATTRIBUTES = 1_000  # per element
EARLIEST_DATE = datetime(1991, 1, 1, tzinfo=UTC)  # arXiv's first paper; older dates are junk

# Bidi overrides/isolates and C0/C1 controls: invisible, and used to disguise text.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
_ARXIV_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*"
    r"(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL | re.IGNORECASE,
)
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")


class FeedError(Exception):
    """The document as a whole cannot be read; the message is shown to operators as-is."""


@dataclass(frozen=True)
class PaperData:
    key: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    arxiv_id: str = ""
    version: int = 0
    abs_url: str = ""
    pdf_url: str = ""
    published_at: datetime | None = None
    upvotes: int | None = None
    announce_type: str = ""


@dataclass(frozen=True)
class Rejected:
    position: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.position}: {self.reason}"


@dataclass(frozen=True)
class ParseResult:
    papers: tuple[PaperData, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# --- text clean-up ---------------------------------------------------------------------------


def clean_text(value: Any, limit: int) -> str:
    """Plain text from a feed field that may hold HTML, entities or control characters."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if "<" in value or "&" in value:
        value = html.unescape(nh3.clean(value, tags=set()))
    value = " ".join(_INVISIBLE.sub("", value).split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def clean_names(names: Iterable[Any]) -> tuple[str, ...]:
    cleaned = (clean_text(name, MAX_NAME) for name in names)
    return tuple(name for name in cleaned if name)[:MAX_AUTHORS]


def split_author_line(line: str) -> tuple[str, ...]:
    """arXiv RSS puts every author in one dc:creator: "A. Smith, B. Jones and C. Wu"."""
    names = _AUTHOR_SPLIT.split(clean_text(line, MAX_AUTHORS * MAX_NAME))
    return tuple(name[:MAX_NAME] for name in names if name)[:MAX_AUTHORS]


def clean_categories(terms: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        text = clean_text(term, 60)
        if text:
            seen.setdefault(text, None)
    return tuple(seen)[:MAX_CATEGORIES]


def sane_date(value: datetime | None) -> datetime | None:
    """Drop dates before arXiv existed or more than two days in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    latest = datetime.now(UTC) + timedelta(days=2)
    return value if EARLIEST_DATE <= value <= latest else None


def date_from_struct(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return sane_date(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
    except (OverflowError, ValueError, OSError):
        return None


def date_from_iso(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return sane_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def as_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):  # JSON's 1e999 is infinity
        return None
    return max(0, min(int(value), 10_000_000))


# --- kind detection ----------------------------------------------------------------------------


def detect_kind(body: bytes) -> str:
    """Guess a document's kind from its first bytes; raise FeedError if it is no feed at all."""
    head = body[:65536].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        raise FeedError("the document is empty")
    if head[:1] in (b"[", b"{"):
        return "hf-daily"
    text = head.decode("latin-1")
    if "<rss" in text and "arxiv" in text and "announce" in text:
        return "arxiv-rss"
    if "<feed" in text and ("arxiv.org/api" in text or "arxiv.org/schemas/atom" in text):
        return "arxiv-api"
    if "<rss" in text or "<feed" in text or "<rdf" in text:
        return "feed"
    if "<html" in text or "<!doctype html" in text:
        raise FeedError("this is an HTML web page, not a feed (check the URL)")
    raise FeedError("not a recognised feed: expected RSS, Atom or Hugging Face JSON")


def kind_from_url(url: str) -> str | None:
    """The kind a well-known feed address serves, or None when only its content can tell."""
    parts = urlsplit(url.strip())
    host, path = (parts.hostname or "").lower(), parts.path
    if host == "rss.arxiv.org" or (host.endswith("arxiv.org") and path.startswith("/rss/")):
        return "arxiv-rss"
    if host == "export.arxiv.org" and path.startswith("/api/"):
        return "arxiv-api"
    if host == "huggingface.co" and path.startswith("/api/daily_papers"):
        return "hf-daily"
    return None


def check_kind(body: bytes, kind: str) -> None:
    """Raise FeedError when a document is plainly of another kind than the one chosen: an
    arXiv listing read as a plain feed keeps "arXiv:… Announce Type: …" in every abstract."""
    try:
        detected = detect_kind(body)
    except FeedError:
        return  # not recognisable from its first bytes: the parser will say what is wrong
    # A listing on a day without announcements has no arXiv marks and looks like any feed.
    if detected == kind or (detected == "feed" and kind in ("arxiv-rss", "arxiv-api")):
        return
    raise FeedError(
        f"this is {KIND_NAMES.get(detected, detected)}, not {KIND_NAMES.get(kind, kind)}: "
        "set the kind to match, or let it be detected automatically"
    )


def parse(body: bytes, kind: str | None = None) -> ParseResult:
    """Parse a document of the given kind (detected when None) into normalized papers; a
    document plainly of another kind is refused with FeedError."""
    if kind in KINDS:
        check_kind(body, kind)
    kind = kind or detect_kind(body)
    if kind == "hf-daily":
        return _collect(_hf_items(body), _from_hf_item)
    if kind not in KINDS:
        raise FeedError(f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}")
    _refuse_attribute_floods(body)
    parsed = _feedparser(body)
    entry_reader = {"arxiv-rss": _from_arxiv_rss, "arxiv-api": _from_arxiv_api}.get(
        kind, _from_feed_entry
    )
    if kind == "arxiv-api":
        _raise_arxiv_api_error(parsed.entries)
    result = _collect(parsed.entries, entry_reader)
    if parsed.bozo:
        problem = _bozo_message(parsed.get("bozo_exception"))
        warning = (
            f"the feed is malformed ({problem}); kept the {len(result.papers)} entries that parsed"
        )
        result = replace(result, warnings=(*result.warnings, warning))
    return result


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
        raise FeedError("this is an HTML web page, not a feed (check the URL)")
    if parsed.bozo:
        raise FeedError(f"unreadable feed: {_bozo_message(parsed.get('bozo_exception'))}")
    raise FeedError("not a recognised feed: expected RSS, Atom or Hugging Face JSON")


_BAD_CHAR_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


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


def _collect(entries: Iterable[Any], read: Callable[[Any], PaperData]) -> ParseResult:
    papers: list[PaperData] = []
    rejected: list[Rejected] = []
    for position, entry in enumerate(entries, start=1):
        try:
            papers.append(read(entry))
        except EntryError as exc:
            rejected.append(Rejected(position, str(exc)))
        except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as exc:
            # A shape we did not foresee: reject this entry, keep the rest of the document.
            rejected.append(Rejected(position, f"unreadable entry ({type(exc).__name__}: {exc})"))
    return ParseResult(papers=tuple(papers), rejected=tuple(rejected))


class EntryError(Exception):
    """One entry cannot become a paper (no title, say); the rest of the feed goes on."""


def _require_title(title: str) -> str:
    if not title:
        raise EntryError("no title")
    return title


# --- arXiv RSS (rss.arxiv.org) ------------------------------------------------------------------


def _from_arxiv_rss(entry: Any) -> PaperData:
    description = entry.get("summary", "")
    match = _ARXIV_DESCRIPTION.match(description)
    ref = find_arxiv_id(
        entry.get("id", ""), f"arXiv:{match['id']}" if match else "", entry.get("link", "")
    )
    if ref is None:
        raise EntryError("no arXiv id in guid, description or link")
    announce = entry.get("arxiv_announce_type") or (match["type"] if match else "")
    abstract = match["abstract"] if match else description
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=_require_title(clean_text(entry.get("title"), MAX_TITLE)),
        abstract=clean_text(abstract, MAX_ABSTRACT),
        authors=split_author_line(entry.get("author", "")),
        categories=clean_categories(tag.get("term") for tag in entry.get("tags", [])),
        arxiv_id=ref.id,
        version=ref.version,
        abs_url=ref.abs_url,
        pdf_url=ref.pdf_url,
        published_at=date_from_struct(entry.get("published_parsed")),
        announce_type=clean_text(announce, 20).lower(),
    )


# --- arXiv API (export.arxiv.org/api/query) ---------------------------------------------


def _raise_arxiv_api_error(entries: list[Any]) -> None:
    # The API reports a bad query as a single entry titled "Error" with an /api/errors id.
    if len(entries) == 1 and "/api/errors" in entries[0].get("id", ""):
        raise FeedError(f"arXiv API error: {clean_text(entries[0].get('summary'), 300)}")


def _from_arxiv_api(entry: Any) -> PaperData:
    ref = find_arxiv_id(entry.get("id", ""), entry.get("link", ""))
    if ref is None:
        raise EntryError("no arXiv id in the entry id or link")
    categories = [entry.get("arxiv_primary_category", {}).get("term")]
    categories += [tag.get("term") for tag in entry.get("tags", [])]
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=_require_title(clean_text(entry.get("title"), MAX_TITLE)),
        abstract=clean_text(entry.get("summary"), MAX_ABSTRACT),
        authors=clean_names(author.get("name") for author in entry.get("authors", [])),
        categories=clean_categories(term for term in categories if term),
        arxiv_id=ref.id,
        version=ref.version,
        abs_url=ref.abs_url,
        pdf_url=ref.pdf_url,
        published_at=date_from_struct(entry.get("published_parsed")),
        announce_type="new",
    )


# --- any RSS 2.0 / Atom 1.0 / RSS 1.0 ----------------------------------------------------------


def _longest_text(entry: Any) -> str:
    candidates = [entry.get("summary", "")]
    candidates += [part.get("value", "") for part in entry.get("content", [])]
    return max(candidates, key=len)


def _pdf_link(entry: Any) -> str:
    for link in entry.get("links", []):
        href = link.get("href", "")
        if link.get("type") == "application/pdf" or href.lower().endswith(".pdf"):
            return href
    return ""


def _feed_authors(entry: Any) -> tuple[str, ...]:
    names = [author.get("name", "") for author in entry.get("authors", []) if author.get("name")]
    if len(names) == 1:
        return split_author_line(names[0])
    return clean_names(names)


def _from_feed_entry(entry: Any) -> PaperData:
    title = _require_title(clean_text(entry.get("title"), MAX_TITLE))
    link, guid = entry.get("link", ""), entry.get("id", "")
    ref = find_arxiv_id(link, guid, entry.get("dc_identifier", ""), _pdf_link(entry))
    doi = (
        ""
        if ref
        else find_doi(entry.get("prism_doi", ""), entry.get("dc_identifier", ""), guid, link)
    )
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    return PaperData(
        key=canonical_key(arxiv=ref, doi=doi, url=link, guid=guid, title=title),
        title=title,
        abstract=clean_text(_longest_text(entry), MAX_ABSTRACT),
        authors=_feed_authors(entry),
        categories=clean_categories(tag.get("term") for tag in entry.get("tags", [])),
        arxiv_id=ref.id if ref else "",
        version=ref.version if ref else 0,
        abs_url=ref.abs_url if ref else _http_url(link),
        pdf_url=ref.pdf_url if ref else _http_url(_pdf_link(entry)),
        published_at=date_from_struct(published),
    )


def _http_url(url: str) -> str:
    # Only http(s) links reach a template: a feed's "javascript:" link must not become a button.
    url = (url or "").strip()
    return url[:1000] if url.lower().startswith(("http://", "https://")) else ""


# --- Hugging Face daily papers JSON (/api/daily_papers) ------------------------------------------


def _hf_items(body: bytes) -> list[Any]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FeedError(f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FeedError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise FeedError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer over Python's 4,300-digit limit
        raise FeedError(f"invalid JSON: {str(exc)[:120]}") from None
    if not isinstance(data, list):
        raise FeedError("unexpected JSON: expected a list of daily papers")
    return data


def _from_hf_item(item: Any) -> PaperData:
    if not isinstance(item, dict):
        raise EntryError("not a JSON object")
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    ref: ArxivRef | None = parse_arxiv_id(str(paper.get("id", "")))
    if ref is None:
        raise EntryError(f"paper id {str(paper.get('id'))[:40]!r} is not an arXiv id")
    authors = paper.get("authors") or []
    names = [a.get("name") if isinstance(a, dict) else a for a in authors if a]
    upvotes = paper.get("upvotes", item.get("upvotes"))
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=_require_title(clean_text(paper.get("title") or item.get("title"), MAX_TITLE)),
        abstract=clean_text(paper.get("summary") or item.get("summary"), MAX_ABSTRACT),
        authors=clean_names(names),
        arxiv_id=ref.id,
        version=ref.version,
        abs_url=ref.abs_url,
        pdf_url=ref.pdf_url,
        published_at=date_from_iso(paper.get("publishedAt") or item.get("publishedAt")),
        upvotes=as_count(upvotes),
    )


# --- merging two sightings of one paper -----------------------------------------------------------


def merge_papers(old: PaperData, new: PaperData) -> PaperData:
    """Combine two sightings of a paper: newer version wins, blanks fill, upvotes refresh."""
    newer = new.version > old.version
    base, other = (new, old) if newer else (old, new)
    return replace(
        base,
        abstract=base.abstract or other.abstract,
        authors=base.authors or other.authors,
        categories=clean_categories((*old.categories, *new.categories)),
        arxiv_id=base.arxiv_id or other.arxiv_id,
        version=max(old.version, new.version),
        abs_url=base.abs_url or other.abs_url,
        pdf_url=base.pdf_url or other.pdf_url,
        published_at=old.published_at or new.published_at,
        upvotes=new.upvotes if new.upvotes is not None else old.upvotes,
        announce_type=new.announce_type if newer else (old.announce_type or new.announce_type),
    )
