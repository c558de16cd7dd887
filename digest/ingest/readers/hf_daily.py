"""Hugging Face's daily papers (huggingface.co/api/daily_papers): a JSON list of arXiv papers
with their upvotes."""

from __future__ import annotations

import json
from typing import Any

from digest.ingest.identifiers import canonical_key, parse_arxiv_id
from digest.ingest.readers.cleaning import (
    MAX_ABSTRACT,
    MAX_TITLE,
    as_count,
    clean_names,
    clean_text,
    date_from_iso,
)
from digest.ingest.readers.kinds import Kind
from digest.ingest.readers.papers import (
    EntryError,
    FeedError,
    PaperData,
    ParseResult,
    collect,
    require_title,
)


def read(body: bytes) -> ParseResult:
    return collect(_items(body), read_item)


def _items(body: bytes) -> list[Any]:
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


def read_item(item: Any) -> PaperData:
    if not isinstance(item, dict):
        raise EntryError("not a JSON object")
    # An item wraps its paper ({"paper": {...}, "upvotes": ...}); a bare paper reads too.
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    ref = parse_arxiv_id(str(paper.get("id", "")))
    if ref is None:
        raise EntryError(f"paper id {str(paper.get('id'))[:40]!r} is not an arXiv id")
    authors = paper.get("authors") or []
    names = [a.get("name") if isinstance(a, dict) else a for a in authors if a]
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=require_title(clean_text(paper.get("title") or item.get("title"), MAX_TITLE)),
        abstract=clean_text(paper.get("summary") or item.get("summary"), MAX_ABSTRACT),
        authors=clean_names(names),
        arxiv_id=ref.id,
        version=ref.version,
        abs_url=ref.abs_url,
        pdf_url=ref.pdf_url,
        published_at=date_from_iso(paper.get("publishedAt") or item.get("publishedAt")),
        upvotes=as_count(paper.get("upvotes", item.get("upvotes"))),
    )


KIND = Kind(
    value="hf-daily",
    label="Hugging Face daily papers (JSON)",
    article="Hugging Face daily papers JSON",
    syntax="json",
    read=read,
    recognises=lambda head: True,  # the only JSON kind: the syntax says it all
    generic=True,
    serves=lambda host, path: host == "huggingface.co" and path.startswith("/api/daily_papers"),
)
