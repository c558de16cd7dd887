"""arXiv's RSS listings (rss.arxiv.org/rss/cs.LG): one item per new, cross-listed or
replaced paper, its id and announce type at the start of the description."""

from __future__ import annotations

import re
from typing import Any

from digest.ingest.identifiers import canonical_key, find_arxiv_id
from digest.ingest.readers import markup
from digest.ingest.readers.cleaning import (
    MAX_ABSTRACT,
    MAX_TITLE,
    clean_categories,
    clean_text,
    date_from_struct,
    split_author_line,
)
from digest.ingest.readers.kinds import Kind
from digest.ingest.readers.papers import EntryError, PaperData, ParseResult, require_title

_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*"
    r"(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL | re.IGNORECASE,
)


def read(body: bytes) -> ParseResult:
    return markup.read_entries(body, read_entry)


def read_entry(entry: Any) -> PaperData:
    description = entry.get("summary", "")
    match = _DESCRIPTION.match(description)
    ref = find_arxiv_id(
        entry.get("id", ""), f"arXiv:{match['id']}" if match else "", entry.get("link", "")
    )
    if ref is None:
        raise EntryError("no arXiv id in guid, description or link")
    announce = entry.get("arxiv_announce_type") or (match["type"] if match else "")
    abstract = match["abstract"] if match else description
    return PaperData(
        key=canonical_key(arxiv=ref),
        title=require_title(clean_text(entry.get("title"), MAX_TITLE)),
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


def _on_arxiv(host: str) -> bool:
    # The domain or a subdomain of it: "notarxiv.org" is someone else's.
    return host == "arxiv.org" or host.endswith(".arxiv.org")


def _serves(host: str, path: str) -> bool:
    return host == "rss.arxiv.org" or (_on_arxiv(host) and path.startswith("/rss/"))


KIND = Kind(
    value="arxiv-rss",
    label="arXiv RSS listing",
    article="an arXiv RSS listing",
    syntax="xml",
    read=read,
    recognises=lambda head: "<rss" in head and "arxiv" in head and "announce" in head,
    serves=_serves,
    lives_on=_on_arxiv,
    elsewhere="arXiv RSS listings live on rss.arxiv.org; for another site's feed choose "
    "“RSS or Atom feed”.",
)
