"""What operators do to papers by hand: hide spam from digests and merge duplicates that the
automatic dedupe missed. Nothing is deleted: a merged duplicate stays, hidden, pointing at the
paper it was merged into, so a feed that brings it again updates the hidden row."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

from digest.models import Paper

FILLABLE = ("arxiv_id", "abstract", "abs_url", "pdf_url", "published_at")


def set_hidden(papers: Iterable[Paper], *, hidden: bool) -> int:
    """Hide papers from digests, the landing page and previews (or show them again)."""
    ids = [p.pk for p in papers]
    changed = Paper.objects.filter(pk__in=ids).exclude(hidden=hidden).update(hidden=hidden)
    _papers_changed()
    return changed


def merge(keep: Paper, duplicates: Iterable[Paper]) -> int:
    """Fold duplicates into `keep`: it takes what they know that it lacks and the highest
    upvote count; they are hidden and point at it. Returns how many were merged."""
    others = [p for p in duplicates if p.pk != keep.pk]
    if not others:
        return 0
    with transaction.atomic():
        keep = Paper.objects.select_for_update().get(pk=keep.pk)
        for other in others:
            _absorb(keep, other)
        keep.save()
        Paper.objects.filter(pk__in=[o.pk for o in others]).update(hidden=True, merged_into=keep)
        # Papers merged into one of these now point at the survivor.
        Paper.objects.filter(merged_into__in=[o.pk for o in others]).update(merged_into=keep)
    _papers_changed()
    return len(others)


def _absorb(keep: Paper, other: Paper) -> None:
    for name in FILLABLE:
        if not getattr(keep, name) and getattr(other, name):
            setattr(keep, name, getattr(other, name))
    if not keep.authors and other.authors:
        keep.authors = other.authors
    keep.categories = list(dict.fromkeys([*keep.categories, *other.categories]))
    votes = [v for v in (keep.upvotes, other.upvotes) if v is not None]
    keep.upvotes = max(votes) if votes else None


def _papers_changed() -> None:
    cache.delete("papers-version")  # the landing page picks the change up at once
