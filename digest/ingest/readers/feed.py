"""Any RSS 2.0, RSS 1.0 or Atom 1.0 feed: a lab's blog, a journal's table of contents. Papers
are keyed by the arXiv id or DOI they mention, else by their link."""

from __future__ import annotations

from typing import Any

from digest.ingest.identifiers import canonical_key, find_arxiv_id, find_doi
from digest.ingest.readers import markup
from digest.ingest.readers.cleaning import (
    MAX_ABSTRACT,
    MAX_TITLE,
    clean_categories,
    clean_names,
    clean_text,
    date_from_struct,
    http_url,
    split_author_line,
)
from digest.ingest.readers.kinds import Kind
from digest.ingest.readers.papers import PaperData, ParseResult, require_title


def read(body: bytes) -> ParseResult:
    return markup.read_entries(body, read_entry)


def read_entry(entry: Any) -> PaperData:
    title = require_title(clean_text(entry.get("title"), MAX_TITLE))
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
        authors=_authors(entry),
        categories=clean_categories(tag.get("term") for tag in entry.get("tags", [])),
        arxiv_id=ref.id if ref else "",
        version=ref.version if ref else 0,
        abs_url=ref.abs_url if ref else http_url(link),
        pdf_url=ref.pdf_url if ref else http_url(_pdf_link(entry)),
        published_at=date_from_struct(published),
    )


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


def _authors(entry: Any) -> tuple[str, ...]:
    names = [author.get("name", "") for author in entry.get("authors", []) if author.get("name")]
    if len(names) == 1:
        return split_author_line(names[0])
    return clean_names(names)


KIND = Kind(
    value="feed",
    label="RSS or Atom feed",
    article="an RSS or Atom feed",
    syntax="xml",
    read=read,
    recognises=lambda head: "<rss" in head or "<feed" in head or "<rdf" in head,
    generic=True,
)
