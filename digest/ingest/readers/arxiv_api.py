"""arXiv API query results (export.arxiv.org/api/query): Atom with arXiv's own extensions."""

from __future__ import annotations

from typing import Any

from digest.ingest.identifiers import canonical_key, find_arxiv_id
from digest.ingest.readers import markup
from digest.ingest.readers.cleaning import (
    MAX_ABSTRACT,
    MAX_TITLE,
    clean_categories,
    clean_names,
    clean_text,
    date_from_struct,
)
from digest.ingest.readers.kinds import Kind
from digest.ingest.readers.papers import (
    EntryError,
    FeedError,
    PaperData,
    ParseResult,
    require_title,
)


def read(body: bytes) -> ParseResult:
    return markup.read_entries(body, read_entry, refuse=_refuse_error_answer)


def _refuse_error_answer(entries: list[Any]) -> None:
    # The API reports a bad query as a single entry titled "Error" with an /api/errors id.
    if len(entries) == 1 and "/api/errors" in entries[0].get("id", ""):
        raise FeedError(f"arXiv API error: {clean_text(entries[0].get('summary'), 300)}")


def read_entry(entry: Any) -> PaperData:
    ref = find_arxiv_id(entry.get("id", ""), entry.get("link", ""))
    if ref is None:
        raise EntryError("no arXiv id in the entry id or link")
    categories = [entry.get("arxiv_primary_category", {}).get("term")]
    categories += [tag.get("term") for tag in entry.get("tags", [])]
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=require_title(clean_text(entry.get("title"), MAX_TITLE)),
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


def _recognises(head: str) -> bool:
    return "<feed" in head and ("arxiv.org/api" in head or "arxiv.org/schemas/atom" in head)


KIND = Kind(
    value="arxiv-api",
    label="arXiv API (Atom)",
    article="an arXiv API (Atom) response",
    syntax="xml",
    read=read,
    recognises=_recognises,
    serves=lambda host, path: host == "export.arxiv.org" and path.startswith("/api/"),
    lives_on=lambda host: host == "export.arxiv.org",
    elsewhere="arXiv API queries live on export.arxiv.org/api/query.",
)
