"""Generated papers (tests/support/feedgen.py) as the matcher reads them, for the matching
tests and the match benchmark."""

from __future__ import annotations

from datetime import datetime

from digest.matching.index import PaperText


def as_paper_text(i: int, paper: dict, published: datetime | None = None) -> PaperText:
    """A generated paper, numbered `i`, in the shape matching takes."""
    return PaperText(
        id=i,
        title=paper["title"],
        abstract=paper["abstract"],
        authors=tuple(paper["authors"]),
        categories=tuple(paper["categories"]),
        upvotes=paper["upvotes"],
        published=published,
    )
