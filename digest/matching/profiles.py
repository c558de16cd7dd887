"""A reader's profile: their seed papers and interest, resolved, embedded and kept as one vector.

Seeds are found among stored papers (arXiv id, DOI, then exact title). An arXiv id we have not
stored is fetched through the arXiv API by the profile task (refresh), for confirmed readers
only, at most one request every few seconds from all workers, and an id arXiv did not have is
asked for again a day later (catch_up). A paper fetched as a seed is stored unlisted: it is
not new, so no edition or listing shows it until a source lists it.

The profile vector is made from what is embedded (semantic.make_profile) and stored on the
subscriber with the model's name; when the seeds or the interest change, a seed is found or
embedded later, or the model changes, it is made again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from digest.ingest import fetching, readers
from digest.ingest.readers import FeedError
from digest.ingest.sources import store_papers
from digest.matching import learning, vectors
from digest.matching.embeddings import Embedder, pack, unpack
from digest.matching.index import build_index
from digest.matching.query import QueryError
from digest.matching.seeds import SeedRef
from digest.matching.semantic import Profile, features, make_profile
from digest.models import TEXT_FIELDS, Paper
from lib.iterables import batched
from subscribers.models import Feedback, SeedPaper, Subscriber

log = logging.getLogger(__name__)
FETCH_BATCH = 50  # arXiv ids per API request
ARXIV_PAUSE_SECONDS = 3  # between two requests to the arXiv API, from any worker
LOOKUP_AGAIN_AFTER = timedelta(days=1)  # an id arXiv did not have is asked for again after
LOOKUP_BATCH = 1_000  # paper ids per query (SQLite takes at most 32,766 parameters)
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


def set_seeds(subscriber: Subscriber, refs: Sequence[SeedRef], *, resolve: bool = True) -> bool:
    """Make these the subscriber's seeds; True if they changed. Seeds they had already keep
    the date they were added (the latest weigh most); the others are added now. Without
    `resolve` nothing is looked up (a signup does the same work whoever's address it is; the
    profile task finds the papers)."""
    kept = {_identity(seed.arxiv_id, seed.doi, seed.title): seed for seed in subscriber.seeds.all()}
    wanted: dict[str, SeedPaper] = {}
    now = timezone.now()
    for ref in refs:
        identity = _identity(ref.arxiv_id, ref.doi, ref.title)
        if identity in wanted:
            continue
        seed = kept.pop(identity, None) or SeedPaper(
            subscriber=subscriber,
            added_at=now,
            arxiv_id=ref.arxiv_id,
            doi=ref.doi,
            title=ref.title[:500],
            label=ref.label[:300],
        )
        if resolve and seed.paper_id is None and (paper := find_paper(ref)):
            seed.paper, seed.title = paper, paper.title[:500]
            if seed.pk:
                seed.save(update_fields=["paper", "title"])
        wanted[identity] = seed
    # Two names of one paper (its arXiv id and its DOI) make one seed.
    papers = {seed.paper_id for seed in wanted.values() if seed.pk and seed.paper_id}
    added = []
    for seed in wanted.values():
        if seed.pk is None and (seed.paper_id is None or seed.paper_id not in papers):
            papers.add(seed.paper_id)
            added.append(seed)
    with transaction.atomic():
        SeedPaper.objects.filter(pk__in=[seed.pk for seed in kept.values()]).delete()
        SeedPaper.objects.bulk_create(added)
    return bool(kept or added)


def _identity(arxiv_id: str, doi: str, title: str) -> str:
    """One seed per paper the reader named, however they named it."""
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    return f"doi:{doi}" if doi else f"title:{' '.join(title.casefold().split())}"


def link_stored(seeds: Iterable[SeedPaper]) -> int:
    """Point seeds not found yet at papers we have now (fetched, or listed by a source since);
    returns how many were found."""
    found = 0
    for seed in seeds:
        paper = find_paper(SeedRef(arxiv_id=seed.arxiv_id, doi=seed.doi, title=seed.title))
        if paper is not None:
            seed.paper, seed.title = paper, paper.title[:500]
            seed.save(update_fields=["paper", "title"])
            found += 1
    return found


def fetch_due(seeds: Sequence[SeedPaper]) -> int:
    """Ask the arXiv API for these unfound seeds' papers, one request for up to FETCH_BATCH,
    those not asked for in the last LOOKUP_AGAIN_AFTER only, and at most one request every
    ARXIV_PAUSE_SECONDS across all workers (arXiv's terms); returns how many were found."""
    since = timezone.now() - LOOKUP_AGAIN_AFTER
    due = [s for s in seeds if s.arxiv_id and (s.looked_up_at is None or s.looked_up_at < since)][
        :FETCH_BATCH
    ]
    if not due or not cache.add("arxiv-api-pause", 1, timeout=ARXIV_PAUSE_SECONDS):
        return 0
    SeedPaper.objects.filter(pk__in=[s.pk for s in due]).update(looked_up_at=timezone.now())
    store_arxiv_papers(sorted({s.arxiv_id for s in due}))
    return link_stored(due)


def store_arxiv_papers(ids: Sequence[str]) -> int:
    """Fetch these arXiv ids through the API and store the new ones as seed papers only (not
    listed: they are not new to anyone); returns how many were stored."""
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
        return store_papers(parsed.papers, listed=False).new


def unfound(subscriber: Subscriber) -> list[SeedPaper]:
    return list(subscriber.seeds.filter(paper__isnull=True))


# --- the profile vector -----------------------------------------------------------------------


def refresh(subscriber: Subscriber, model: Embedder, *, fetch: bool = True) -> bool:
    """Make the subscriber's profile vector from their seeds and interest as they are now
    (finding, fetching and embedding what is missing); True if they have one. Seeds are
    fetched only for a confirmed reader: an unconfirmed signup costs arXiv nothing."""
    if missing := unfound(subscriber):
        link_stored(missing)
        if fetch and subscriber.status == Subscriber.Status.ACTIVE:
            fetch_due(unfound(subscriber))
    seeds = _found(subscriber)
    unembedded = [s.paper for s in seeds if s.paper.embedded_with != model.name]
    if unembedded:
        vectors.embed_rows(model, [(p.pk, p.title, p.abstract, p.updated_at) for p in unembedded])
        seeds = _found(subscriber)
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


def clear(subscriber: Subscriber) -> None:
    """No seeds and no interest any more: no profile (matched by keywords alone)."""
    subscriber.profile = subscriber.interest_vector = None
    subscriber.profile_model = ""
    subscriber.save(update_fields=["profile", "interest_vector", "profile_model"])


def _found(subscriber: Subscriber) -> list[SeedPaper]:
    """The seeds found among our papers, hidden ones left out (an operator hid them)."""
    found = subscriber.seeds.filter(paper__isnull=False, paper__hidden=False)
    return list(found.select_related("paper"))


def stored(subscriber: Subscriber, model_name: str) -> Profile | None:
    """The profile as stored, with what it was made from (for the "why") and moved by the
    reader's ratings (their own model, once fitted); None when there is nothing by this model
    (then the reader is matched by keywords until refresh)."""
    base = _stored_base(subscriber, model_name)
    if subscriber.rated_at is None:
        return base
    return with_ratings(subscriber, base, model_name)


MAX_RATINGS = 200  # the latest ratings a profile, a model and a card are made from


def standing(subscriber: Subscriber) -> QuerySet[Feedback]:
    """The ratings that count, the latest first: at most MAX_RATINGS, of papers not hidden
    (a paper an operator hid is sent to nobody, and named nowhere)."""
    ratings = subscriber.feedback.filter(paper__hidden=False)
    return ratings.order_by("-created_at", "-pk")[:MAX_RATINGS]


def with_ratings(subscriber: Subscriber, base: Profile | None, model_name: str) -> Profile | None:
    """The profile moved by the ratings that stand now (learning.personal): removing one gives
    the profile back as it was."""
    liked, disliked = [], []
    rows = list(
        standing(subscriber).values_list(
            "paper_id", "action", "paper__title", "paper__embedding", "paper__embedded_with"
        )
    )
    for pk, action, title, blob, by in rows:
        vector = unpack(bytes(blob)) if blob is not None and by == model_name else NO_VECTOR
        if action == Feedback.Action.MORE:
            liked.append((title, vector))
        else:  # never sent again, embedded or not
            disliked.append((pk, vector))
    profile = learning.personal(base, liked, disliked, learned_model(subscriber, model_name))
    if profile is None:
        return None
    # Liked papers are theirs already, as seeds are: never sent back (disliked never again).
    return replace(profile, known=profile.known | {pk for pk, *_ in rows})


NO_VECTOR = np.zeros(1, dtype=np.float32)


def learned_model(subscriber: Subscriber, model_name: str) -> np.ndarray | None:
    """The reader's own model by this embedding model, if fitted."""
    if subscriber.learned is None or subscriber.learned_with != model_name:
        return None
    return np.frombuffer(bytes(subscriber.learned), dtype=np.float32).copy()


def _stored_base(subscriber: Subscriber, model_name: str) -> Profile | None:
    if subscriber.profile is None or subscriber.profile_model != model_name:
        return None
    rows = list(
        subscriber.seeds.filter(paper__isnull=False).values_list(
            "paper_id", "paper__title", "paper__embedding", "paper__embedded_with", "paper__hidden"
        )
    )
    seeds = [  # a paper an operator hid is named in no "why"
        (title, unpack(bytes(blob)), 0.0)
        for _, title, blob, by, hidden in rows
        if blob is not None and by == model_name and not hidden
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


def draft_for(subscriber: Subscriber, interest: str, refs: Sequence[SeedRef]) -> Profile | None:
    """draft_or_none() moved by the reader's standing ratings (the papers they rated left
    out): their own page's preview shows what their next digest would hold."""
    draft = draft_or_none(interest, refs)
    installed = vectors.installed() if subscriber.rated_at else None
    if installed is None:
        return draft
    return with_ratings(subscriber, draft, installed.name)


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
    """Embed every paper without a vector by this model; find seeds not found yet (one arXiv
    request at most); then make the profiles that wait for one of those papers or were made
    by another model."""
    embedded = vectors.embed_pending(model, progress=progress)
    # By id only: a title is looked for when the reader saves, not every few minutes.
    unfound_seeds = list(
        SeedPaper.objects.filter(paper__isnull=True, subscriber__in=receiving())
        .exclude(arxiv_id="", doi="")
        .order_by("id")
    )
    link_stored(unfound_seeds)
    fetch_due([s for s in unfound_seeds if s.paper_id is None])
    waiting = {s.pk: s for s in waiting_for(embedded)}
    waiting.update((s.pk, s) for s in stale(model.name))
    for subscriber in waiting.values():
        refresh(subscriber, model, fetch=False)
    return CatchUp(len(embedded), len(waiting))


def receiving() -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, paused=False)


def stale(model_name: str) -> Iterable[Subscriber]:
    """Readers who get digests, with an interest or a found seed, whose profile is missing or
    by another model. (A reader none of whose seeds is found yet waits for one.)"""
    with_profile = Q(seeds__paper__isnull=False) | ~Q(interest="")
    return (
        receiving()
        .filter(with_profile)
        .exclude(profile_model=model_name)
        .distinct()
        .iterator(chunk_size=500)
    )


def waiting_for(papers: Sequence[int]) -> Iterable[Subscriber]:
    """Subscribers with one of these papers as a seed (just embedded: their profile can now
    include it)."""
    for start in range(0, len(papers), LOOKUP_BATCH):
        batch = papers[start : start + LOOKUP_BATCH]
        yield from Subscriber.objects.filter(seeds__paper__in=batch).distinct()


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


# --- the reader's own model ------------------------------------------------------------------

IGNORED_FROM_DIGESTS = 10  # of their latest digests, the papers shown and not rated
REFIT_BATCH = 500  # readers refitted together: the papers they rated or were shown, indexed once


@dataclass(frozen=True)
class Examples:
    """What one reader's model is fitted on: their ratings, and the papers of their latest
    digests they left alone (weak negatives)."""

    liked: list[int]
    disliked: list[int]
    ignored: list[int]

    @classmethod
    def of(cls, subscriber: Subscriber) -> Examples:
        ratings = dict(standing(subscriber).values_list("paper_id", "action"))
        rated = set(subscriber.feedback.values_list("paper_id", flat=True))  # any, however old
        shown = subscriber.deliveries.filter(edition__isnull=False, status="sent")
        ignored: list[int] = []
        latest = shown.order_by("-pk").values_list("paper_ids", flat=True)[:IGNORED_FROM_DIGESTS]
        for ids in latest:
            ignored += [pk for pk in ids if pk not in rated and pk not in ignored]
        return cls(
            liked=[pk for pk, action in ratings.items() if action == Feedback.Action.MORE],
            disliked=[pk for pk, action in ratings.items() if action != Feedback.Action.MORE],
            ignored=ignored[: learning.MAX_IGNORED],
        )

    @property
    def papers(self) -> list[int]:
        return [*self.liked, *self.disliked, *self.ignored]


class TrainingPapers:
    """The embedded papers some readers' models are fitted on, with one keyword index over
    them all: readers share most of the papers they were shown."""

    def __init__(self, pks: Iterable[int], model_name: str) -> None:
        found = Paper.objects.filter(  # a paper an operator hid teaches nothing
            pk__in=set(pks), embedded_with=model_name, hidden=False
        ).exclude(embedding=None)
        self.papers = list(found.only(*TEXT_FIELDS, "embedding"))
        self.position = {paper.pk: i for i, paper in enumerate(self.papers)}
        self.index = build_index([paper.as_text() for paper in self.papers])

    def text(self, pk: int) -> str:
        paper = self.papers[self.position[pk]]
        return f"{paper.title} {paper.abstract}"

    def features(self, rows: Sequence[int], keywords: str) -> np.ndarray:
        """features() of these papers for a reader with these keywords; recency is each
        paper's place between the oldest and newest of these rows."""
        at = [self.position[pk] for pk in rows]
        matched = np.zeros(len(self.papers), dtype=bool)
        try:
            for topic in self.index.query(keywords, filters=True).topics:
                matched |= self.index.dense(topic) > 0
        except QueryError:
            pass  # keywords no longer valid: matched by nothing
        papers = [self.papers[i] for i in at]
        stamps = np.array([p.as_text().published.timestamp() for p in papers])
        span = stamps.max() - stamps.min()
        return features(
            np.stack([unpack(bytes(p.embedding)) for p in papers]),
            matched[at],
            np.array([p.upvotes or 0 for p in papers], dtype=np.float64),
            (stamps - stamps.min()) / span if span else np.ones(len(papers)),
        )


def refit(
    subscriber: Subscriber,
    model_name: str,
    examples: Examples | None = None,
    training: TrainingPapers | None = None,
) -> bool:
    """Fit the reader's own model (learning.py) on their ratings, with the papers of their
    latest digests they left alone as weak negatives; True if they have one now. Without
    enough ratings their model is dropped: the Rocchio profile alone ranks for them."""
    examples = examples or Examples.of(subscriber)
    if not learning.ready(len(examples.liked), len(examples.disliked)):
        _save_model(subscriber, None, model_name)  # refitted when their ratings change
        return False
    training = training or TrainingPapers(examples.papers, model_name)
    rows = [pk for pk in examples.papers if pk in training.position]
    liked, weak = set(examples.liked), set(examples.ignored)
    labels = np.array([1.0 if pk in liked else 0.0 for pk in rows])
    if labels.sum() == 0 or labels.sum() == len(rows):
        _save_model(subscriber, None, model_name)
        return False
    weights = np.array([learning.IGNORED_WEIGHT if pk in weak else 1.0 for pk in rows])
    x = training.features(rows, subscriber.query)
    model = learning.fit(x, labels, weights)
    rated = [i for i, pk in enumerate(rows) if pk not in weak]  # the card names rated papers
    words = learning.top_words([training.text(rows[i]) for i in rated], x[rated] @ model)
    _save_model(subscriber, model, model_name, words)
    return True


def _save_model(
    subscriber: Subscriber,
    model: np.ndarray | None,
    model_name: str,
    words: learning.Words = learning.NO_WORDS,
) -> None:
    subscriber.learned = None if model is None else np.asarray(model, np.float32).tobytes()
    subscriber.learned_with = model_name
    subscriber.learned_at = timezone.now()
    subscriber.learned_words = {"up": list(words.up), "down": list(words.down)}
    fields = ["learned", "learned_with", "learned_at", "learned_words"]
    subscriber.save(update_fields=fields)


def refit_due(model_name: str, progress: Callable[[int], object] | None = None) -> int:
    """Refit every receiving reader whose ratings changed since their model was fitted (the
    nightly run), REFIT_BATCH at a time; returns how many now have a model of their own."""
    due = (
        receiving()
        .filter(rated_at__isnull=False)
        .filter(
            Q(learned_at__isnull=True)
            | Q(learned_at__lt=F("rated_at"))
            | ~Q(learned_with=model_name)
        )
    )
    fitted = 0
    for batch in batched(due.order_by("pk").iterator(chunk_size=REFIT_BATCH), REFIT_BATCH):
        examples = [Examples.of(subscriber) for subscriber in batch]
        training = TrainingPapers((pk for e in examples for pk in e.papers), model_name)
        for subscriber, theirs in zip(batch, examples, strict=True):
            fitted += refit(subscriber, model_name, theirs, training)
        if progress:
            progress(len(batch))
    return fitted


# --- what we believe about the reader: their interest card -----------------------------------

CARD_RATINGS = 20  # liked and disliked papers each that the card lists, the latest first


@dataclass(frozen=True)
class Rated:
    paper_id: int
    title: str


@dataclass(frozen=True)
class InterestCard:
    """What the reader's digest is made from, as they can see and change it: their seeds,
    interest, ratings, and the words their ratings (or their own model) weigh up and down."""

    seeds: tuple[SeedPaper, ...]
    interest: str
    liked: tuple[Rated, ...]
    disliked: tuple[Rated, ...]
    liked_count: int
    disliked_count: int
    words: learning.Words
    own_model: bool  # ranked by a model fitted on their ratings, not only moved by them

    @property
    def rated(self) -> bool:
        return bool(self.liked_count or self.disliked_count)

    @property
    def empty(self) -> bool:
        return not (self.seeds or self.interest or self.rated)

    @property
    def needs(self) -> tuple[int, int]:
        """The likes and dislikes a model of one's own needs."""
        return learning.MIN_LIKED, learning.MIN_DISLIKED

    @property
    def rated_lists(self) -> tuple[tuple[str, tuple[Rated, ...], int], ...]:
        return (
            ("More like these", self.liked, self.liked_count),
            ("Fewer like these", self.disliked, self.disliked_count),
        )


def interest_card(subscriber: Subscriber, *, weigh: bool = False) -> InterestCard:
    """What the reader's digest is made from. A model of their own has its words from its
    nightly fit; to `weigh` (their preferences page), a profile moved by ratings has its
    words worked out now (each digest's footer leaves them out)."""
    installed = vectors.installed() if weigh else None
    model_name = installed.name if installed else ""
    rows = list(standing(subscriber).values_list("paper_id", "action", "paper__title"))
    liked = tuple(Rated(pk, title) for pk, action, title in rows if action == Feedback.Action.MORE)
    disliked = tuple(Rated(pk, t) for pk, action, t in rows if action != Feedback.Action.MORE)
    # Their preferences page checks the model against the installed one; a footer trusts it.
    own_model = subscriber.learned is not None and (
        subscriber.learned_with == model_name if weigh else True
    )
    if own_model:
        stored_words = subscriber.learned_words or {}
        words = learning.Words(
            tuple(stored_words.get("up", ())), tuple(stored_words.get("down", ()))
        )
    elif model_name and rows:
        words = _weighed_words(subscriber, model_name, [pk for pk, *_ in rows])
    else:
        words = learning.NO_WORDS
    return InterestCard(
        seeds=tuple(subscriber.seeds.all()),
        interest=subscriber.interest.strip(),
        liked=liked[:CARD_RATINGS],
        disliked=disliked[:CARD_RATINGS],
        liked_count=len(liked),
        disliked_count=len(disliked),
        words=words,
        own_model=own_model,
    )


def _weighed_words(subscriber: Subscriber, model_name: str, rated: list[int]) -> learning.Words:
    """The words of the rated papers that the reader's profile scores highest and lowest:
    what their ratings taught, in the papers' own words."""
    profile = stored(subscriber, model_name)
    papers = (
        Paper.objects.filter(pk__in=rated, embedded_with=model_name)
        .exclude(embedding=None)
        .only("title", "abstract", "embedding")
    )
    texts, embedded = [], []
    for paper in papers:
        texts.append(f"{paper.title} {paper.abstract}")
        embedded.append(unpack(bytes(paper.embedding)))
    if profile is None or not embedded or len(profile.vector) != len(embedded[0]):
        return learning.NO_WORDS  # nothing to weigh them with (NO_DIRECTION)
    return learning.top_words(texts, np.stack(embedded) @ profile.vector)
