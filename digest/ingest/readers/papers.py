"""What every reader produces, whatever the kind: PaperData, and the rejected entries beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from digest.ingest.readers.cleaning import clean_categories


class FeedError(Exception):
    """The document as a whole cannot be read; the message is shown to operators as-is."""


class EntryError(Exception):
    """One entry cannot become a paper (no title, say); the rest of the feed goes on."""


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
    warnings: tuple[str, ...] = ()

    def warn(self, warning: str) -> ParseResult:
        return replace(self, warnings=(*self.warnings, warning))


def require_title(title: str) -> str:
    if not title:
        raise EntryError("no title")
    return title


def collect(entries: Iterable[Any], read: Callable[[Any], PaperData]) -> ParseResult:
    """Read each entry into a paper; an entry that cannot be read is rejected with its reason."""
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
