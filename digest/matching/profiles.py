"""A reader's profile: their seed papers and interest, resolved, embedded and kept as one vector.

Seeds are resolved against stored papers (arXiv id, DOI, then exact title); an arXiv id we
have not stored is fetched through the arXiv API by the profile task (refresh), never inside a
web request. A paper fetched as a seed is dated by its publication, not as first seen now, so
it never turns up in an edition as new. The profile vector is made from what is embedded
(semantic.make_profile) and stored on the subscriber with the model's name; when the model
changes, or a seed paper gets its vector later, refresh makes it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from digest.ingest import fetching, readers
from digest.ingest.readers import FeedError
from digest.ingest.sources import store_papers
from digest.matching import vectors
from digest.matching.embeddings import Embedder, pack, unpack
from digest.matching.seeds import SeedRef
from digest.matching.semantic import Profile, make_profile
from digest.models import Paper
from subscribers.models import SeedPaper, Subscriber

log = logging.getLogger(__name__)
FETCH_BATCH = 50  # arXiv ids per API request
MAX_DRAFT_SEEDS = 20  # seeds a live preview looks up (each is a query or two)


# --- seeds ------------------------------------------------------------------------------------


def find_paper(ref: SeedRef) -> Paper | None:
    """The stored paper a reference names, if we have it."""
    papers = Paper.objects.visible()
    if ref.arxiv_id:
        found = papers.filter(key=f"arxiv:{ref.arxiv_id}").first()
        if found or not ref.doi:
            return found
    if ref.doi:
        found = papers.filter(Q(key=f"doi:{ref.doi}")).first()
        if found:
            return found
    if ref.title:
        return papers.filter(title__iexact=ref.title.strip()).order_by("-first_seen_at").first()
    return None


def set_seeds(subscriber: Subscriber, refs: Sequence[SeedRef]) -> None:
    """Make these the subscriber's seeds. Seeds they had already keep the date they were added
    (the latest weigh most); the others are added now, found or to be fetched."""
    kept = {_identity(seed): seed for seed in subscriber.seeds.all()}
    wanted = []
    now = timezone.now()
    for ref in refs:
        paper = find_paper(ref)
        identity = _identity_of(ref, paper)
        seed = kept.pop(identity, None) or SeedPaper(subscriber=subscriber, added_at=now)
        seed.paper = paper
        seed.arxiv_id, seed.doi = ref.arxiv_id, ref.doi
        seed.title = (paper.title if paper else ref.title)[:500]
        seed.label = ref.label[:300]
        wanted.append(seed)
    with transaction.atomic():
        SeedPaper.objects.filter(pk__in=[seed.pk for seed in kept.values()]).delete()
        for seed in _unique(wanted):
            seed.save()


def _identity(seed: SeedPaper) -> str:
    return f"paper:{seed.paper_id}" if seed.paper_id else f"{seed.arxiv_id}|{seed.doi}"


def _identity_of(ref: SeedRef, paper: Paper | None) -> str:
    return f"paper:{paper.pk}" if paper else f"{ref.arxiv_id}|{ref.doi}"


def _unique(seeds: Iterable[SeedPaper]) -> list[SeedPaper]:
    found: dict[str, SeedPaper] = {}
    for seed in seeds:
        found.setdefault(_identity(seed), seed)
    return list(found.values())


def fetch_missing(subscriber: Subscriber) -> int:
    """Fetch the subscriber's seeds that name an arXiv id we have not stored; returns how
    many were found. A fetch that fails leaves them for the next refresh."""
    missing = list(subscriber.seeds.filter(paper__isnull=True).exclude(arxiv_id=""))
    for start in range(0, len(missing), FETCH_BATCH):
        store_arxiv_papers([seed.arxiv_id for seed in missing[start : start + FETCH_BATCH]])
    found = 0
    for seed in missing:
        paper = Paper.objects.visible().filter(key=f"arxiv:{seed.arxiv_id}").first()
        if paper is not None:
            seed.paper, seed.title = paper, paper.title[:500]
            seed.save(update_fields=["paper", "title"])
            found += 1
    return found


def store_arxiv_papers(ids: Sequence[str]) -> int:
    """Fetch these arXiv ids through the API and store them, dated by publication."""
    url = f"{settings.ARXIV_API_URL}?" + urlencode(
        {"id_list": ",".join(ids), "max_results": len(ids)}
    )
    try:
        fetched = fetching.fetch(url)
        parsed = readers.parse(fetched.body or b"", "arxiv-api")
    except (fetching.FetchError, FeedError) as exc:
        log.warning("could not fetch seed papers %s: %s", ", ".join(ids), exc)
        return 0
    with transaction.atomic():
        counts = store_papers(parsed.papers)
        keys = [paper.key for paper in parsed.papers]
        Paper.objects.filter(key__in=keys, published_at__lt=F("first_seen_at")).update(
            first_seen_at=F("published_at")
        )
    return counts.new


# --- the profile vector -----------------------------------------------------------------------


def refresh(subscriber: Subscriber, model: Embedder, *, fetch: bool = True) -> bool:
    """Make the subscriber's profile vector from their seeds and interest as they are now
    (fetching and embedding what is missing); True if they have one."""
    if fetch:
        fetch_missing(subscriber)
    seeds = list(subscriber.seeds.filter(paper__isnull=False).select_related("paper"))
    unembedded = [s.paper for s in seeds if s.paper.embedded_with != model.name]
    if unembedded:
        rows = [(p.pk, p.title, p.abstract, p.updated_at) for p in unembedded]
        vectors.embed_rows(model, rows)
        seeds = list(subscriber.seeds.filter(paper__isnull=False).select_related("paper"))
    interest = subscriber.interest.strip()
    interest_vector = model.embed([interest])[0] if interest else None
    profile = make_profile(
        [(s.paper.title, _vector(s.paper, model.name), _age_days(s)) for s in seeds],
        (interest, interest_vector) if interest_vector is not None else None,
    )
    subscriber.profile = pack(profile.vector) if profile else None
    subscriber.interest_vector = pack(interest_vector) if interest_vector is not None else None
    subscriber.profile_model = model.name if profile else ""
    subscriber.save(update_fields=["profile", "interest_vector", "profile_model"])
    return profile is not None


def stored(subscriber: Subscriber, model_name: str) -> Profile | None:
    """The profile as stored, with what it was made from (for the "why"); None when there is
    none by this model (then the reader is matched by keywords until refresh)."""
    if subscriber.profile is None or subscriber.profile_model != model_name:
        return None
    rows = list(
        subscriber.seeds.filter(paper__isnull=False).values_list(
            "paper_id", "paper__title", "paper__embedding", "paper__embedded_with"
        )
    )
    seeds = [
        (title, unpack(bytes(blob)), 0.0)
        for _, title, blob, by in rows
        if blob is not None and by == model_name
    ]
    sources = make_profile(seeds, _interest(subscriber))
    vector = unpack(bytes(subscriber.profile))
    known = frozenset(pk for pk, *_ in rows)
    return Profile(vector, sources.sources if sources else (), known)


def draft_or_none(interest: str, refs: Sequence[SeedRef]) -> Profile | None:
    """draft() with the process's model; None without seeds and interest, or a model. Seeds
    alone need only their stored vectors: the model is loaded only to embed an interest."""
    if interest.strip():
        model = vectors.available()
        return draft(interest, refs, model) if model else None
    installed = vectors.installed() if refs else None
    return draft_from_seeds(refs, installed.name) if installed else None


def draft(interest: str, refs: Sequence[SeedRef], model: Embedder) -> Profile | None:
    """A profile from what a form holds, for the live preview: seeds we have stored (and
    embedded) and the interest, embedded now. Nothing is fetched or saved."""
    interest = interest.strip()
    embedded = (interest, model.embed([interest])[0]) if interest else None
    return draft_from_seeds(refs, model.name, embedded)


def draft_from_seeds(
    refs: Sequence[SeedRef], model_name: str, interest: tuple[str, np.ndarray] | None = None
) -> Profile | None:
    seeds, known = [], set()
    for ref in refs[:MAX_DRAFT_SEEDS]:
        paper = find_paper(ref)
        if paper is not None and paper.embedded_with == model_name and paper.embedding:
            seeds.append((paper.title, unpack(bytes(paper.embedding)), 0.0))
            known.add(paper.pk)
    profile = make_profile(seeds, interest)
    return replace(profile, known=frozenset(known)) if profile else None


@dataclass(frozen=True)
class CatchUp:
    embedded: int
    profiles: int

    def summary(self) -> str:
        return f"embedded {self.embedded} papers; made {self.profiles} profiles"


def catch_up(model: Embedder, progress: Callable[[int], object] | None = None) -> CatchUp:
    """Embed every paper without a vector by this model, then make the profiles that wait for
    one of them (a seed embedded only now) or were made by another model."""
    embedded = vectors.embed_pending(model, progress=progress)
    waiting = {s.pk: s for s in waiting_for(embedded)}
    waiting.update((s.pk, s) for s in stale(model.name))
    for subscriber in waiting.values():
        refresh(subscriber, model, fetch=False)
    return CatchUp(len(embedded), len(waiting))


def stale(model_name: str) -> Iterable[Subscriber]:
    """Subscribers with seeds or an interest whose profile is missing or by another model."""
    with_profile = Q(seeds__isnull=False) | ~Q(interest="")
    return (
        Subscriber.objects.filter(with_profile)
        .exclude(profile_model=model_name)
        .distinct()
        .iterator(chunk_size=500)
    )


def waiting_for(papers: Sequence[int]) -> Iterable[Subscriber]:
    """Subscribers with one of these papers as a seed (just embedded: their profile can now
    include it)."""
    return Subscriber.objects.filter(seeds__paper__in=papers).distinct()


def _vector(paper: Paper, model_name: str) -> np.ndarray:
    if paper.embedding is None or paper.embedded_with != model_name:
        return np.zeros(1, dtype=np.float32)
    return unpack(bytes(paper.embedding))


def _age_days(seed: SeedPaper) -> float:
    return (timezone.now() - seed.added_at).total_seconds() / 86_400


def _interest(subscriber: Subscriber) -> tuple[str, np.ndarray] | None:
    if subscriber.interest_vector is None or not subscriber.interest.strip():
        return None
    return subscriber.interest.strip(), unpack(bytes(subscriber.interest_vector))
