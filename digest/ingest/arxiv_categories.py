"""arXiv's category taxonomy, kept as data (data/arxiv_categories.json), and the sources an
operator picks rather than types: an arXiv listing of any categories, or the Hugging Face daily
papers. `add_source` and the admin's add page both build them here, so nobody types an
rss.arxiv.org address (or saves one with the wrong kind)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TAXONOMY = Path(__file__).resolve().parent / "data" / "arxiv_categories.json"
LISTING = "https://rss.arxiv.org/rss/"  # + codes joined by "+": one feed of several


@dataclass(frozen=True)
class Category:
    code: str  # cs.LG
    name: str  # Machine Learning
    group: str  # Computer Science


@dataclass(frozen=True)
class Listing:
    """A source made from a choice: its suggested name, address and kind (a Source.Kind value;
    this module is below the models)."""

    name: str
    url: str
    kind: str


HF_DAILY = Listing(
    "Hugging Face daily papers", "https://huggingface.co/api/daily_papers", "hf-daily"
)


class UnknownCategory(ValueError):
    """A code that is not arXiv's; `message` says which and suggests the nearest."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def categories() -> dict[str, Category]:
    """Every category by code, in the taxonomy's order (read from the data file each call:
    callers that need it often keep the result)."""
    groups = json.loads(TAXONOMY.read_text("utf-8"))["groups"]
    return {
        code: Category(code, name, group)
        for group, members in groups.items()
        for code, name in members.items()
    }


def choose(codes: Iterable[str]) -> list[Category]:
    """The categories these codes name, in order and once each; any case is fine (cs.lg)."""
    known = categories()
    by_folded = {code.casefold(): category for code, category in known.items()}
    chosen: dict[str, Category] = {}
    for code in codes:
        category = by_folded.get(code.strip().casefold())
        if category is None:
            raise UnknownCategory(_unknown(code, known))
        chosen.setdefault(category.code, category)
    if not chosen:
        raise UnknownCategory("Name at least one arXiv category, for example cs.LG.")
    return list(chosen.values())


def listing_url(chosen: Iterable[Category]) -> str:
    return LISTING + "+".join(category.code for category in chosen)


def arxiv_listing(chosen: Sequence[Category]) -> Listing:
    """The one rss.arxiv.org feed of these categories, named after them ("arXiv cs.LG cs.CV")."""
    codes = " ".join(category.code for category in chosen)
    return Listing(f"arXiv {codes}", listing_url(chosen), "arxiv-rss")


def _unknown(code: str, known: dict[str, Category]) -> str:
    near = difflib.get_close_matches(code, list(known), n=3, cutoff=0.6)
    hint = (
        f" Did you mean {', '.join(near)}?" if near else " See https://arxiv.org/category_taxonomy."
    )
    return f"“{code}” is not an arXiv category.{hint}"
