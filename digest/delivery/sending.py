"""Plan an edition's deliveries, claim them, and match, compose and send each one exactly once.

Exactly-once lives in the database: planning inserts at most one Delivery per (subscriber,
edition); a worker claims deliveries with SELECT … FOR UPDATE SKIP LOCKED and a status-guarded
UPDATE that stamps its claim; just before each hand-off the claim is renewed (and the
subscriber's status re-checked), and each delivery is marked, guarded by the claim, as soon as
its message is handed over. A crash loses at most the messages in flight. A crashed worker's
claims expire after a lease and the sweep hands them out again. Nothing here imports Celery;
tasks.py wraps these functions.

A worker keeps up to SEND_CONCURRENCY messages in flight, each thread with its own mail
connection, under one send rate shared by every worker (send_rate.py): with an ESP's API, where
a message takes tens to hundreds of milliseconds, throughput comes from messages in flight.
"""

from __future__ import annotations

import heapq
import logging
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat
from django.utils import timezone
from redis.exceptions import RedisError

from digest.delivery import composing, editions
from digest.delivery.send_rate import SendRate, shared_send_rate
from digest.matching import profiles, vectors
from digest.matching.index import Match, PaperIndex, build_index, match_papers
from digest.matching.query import Query, QueryError
from digest.matching.semantic import MeaningIndex
from digest.models import Announcement, Delivery, Edition, Frequency, Paper
from lib.emails import (
    Deferred,
    PermanentSendError,
    Throttled,
    TransientSendError,
    open_connection,
    sent_message_id,
)
from lib.iterables import batched
from lib.lru import LRU
from subscribers.models import Listing, Ranking, Subscriber

log = logging.getLogger(__name__)
Status = Delivery.Status
KEPT_MATCHES = 1_000  # distinct (keywords, papers per email) a chunk keeps matches for
KEPT_WINDOWS = 4  # distinct (edition, window, arXiv announcement types) a chunk keeps papers for


@dataclass(frozen=True)
class ChunkResult:
    """How many of a chunk's deliveries ended in each status, as deliver() returned them:
    planned is deferred by the recipient's server (for later), sending is left to the worker
    that holds it now (this one's lease ran out)."""

    counts: Mapping[Status, int] = field(default_factory=dict)

    def __getitem__(self, status: Status) -> int:
        return self.counts.get(status, 0)

    def summary(self) -> str:
        deferred, elsewhere = self[Status.PLANNED], self[Status.SENDING]
        more = f", {deferred} deferred" if deferred else ""
        more += f", {elsewhere} left to another worker" if elsewhere else ""
        return (
            f"sent {self[Status.SENT]}, skipped {self[Status.SKIPPED]}, "
            f"failed {self[Status.FAILED]}{more}"
        )


@dataclass
class EditionPapers:
    """An edition's papers and their index, built once per chunk and shared by its deliveries,
    with what subscribers share: their matches per keywords and each paper's highlights."""

    papers: dict[int, Paper]
    index: PaperIndex
    highlighter: composing.Highlighter = field(default_factory=composing.Highlighter)
    _matches: LRU[tuple[str, int], tuple[Match, ...]] = field(
        default_factory=lambda: LRU(KEPT_MATCHES), init=False, repr=False
    )
    _meaning: MeaningIndex | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def matches(self, keywords: str, limit: int) -> tuple[Match, ...]:
        """The digest for these keywords (QueryError if invalid, and then nothing is kept).
        Subscribers who typed the same keywords get the same papers."""
        return self._by_keywords(self.index.query(keywords), limit)

    def _by_keywords(self, query: Query, limit: int) -> tuple[Match, ...]:
        return self._matches.get_or_make(
            (query.key, limit), lambda: tuple(match_papers(query, self.index, limit))
        )

    def matches_for(self, subscriber: Subscriber) -> tuple[Match, ...]:
        """A subscriber's digest: by keywords (shared with everyone who typed the same), or,
        for a reader with a profile or filter lines, by keywords and meaning. A reader whose
        profile is not made yet (or by another model, or with no model installed) gets what
        their keywords find, and nothing if they have none; a reader who named no topics and
        no papers gets the most upvoted. "Most upvoted first" ranks all of a reader's matches
        by upvotes instead of by relevance."""
        limit = subscriber.per_email
        if subscriber.wants_top_papers and subscriber.rated_at is None:
            return self._matches.get_or_make(
                ("", limit), lambda: tuple(self.index.most_upvoted(limit))
            )
        if subscriber.wants_top_papers:
            return self._top_for_rated(subscriber, limit)
        if subscriber.ranking == Ranking.TRENDING:
            return most_upvoted(self._matching(subscriber, len(self.papers)), self.papers, limit)
        return self._matching(subscriber, limit)

    def _matching(self, subscriber: Subscriber, limit: int) -> tuple[Match, ...]:
        query = self._query(subscriber)
        unrated = subscriber.rated_at is None
        if subscriber.profile is None and unrated and not query.excluded:
            return self._by_keywords(query, limit)
        meaning = self.meaning()
        profile = None
        if subscriber.profile is not None or not unrated:
            profile = profiles.stored(subscriber, meaning.model_name)
        if profile is None and not query.excluded:
            return self._by_keywords(query, limit)
        chosen = meaning.select(query, profile, limit)
        return tuple(meaning.explain(query, profile, scored) for scored in chosen)

    def _top_for_rated(self, subscriber: Subscriber, limit: int) -> tuple[Match, ...]:
        """A reader who named nothing but rated papers (MeaningIndex.select_top)."""
        meaning = self.meaning()
        profile = profiles.stored(subscriber, meaning.model_name)
        if profile is None:  # none of their ratings stands now (all of hidden papers)
            return tuple(self.index.most_upvoted(limit))
        nothing = Query((), ())
        return tuple(
            meaning.explain(nothing, profile, s) for s in meaning.select_top(profile, limit)
        )

    def explain_each(self, subscriber: Subscriber, keywords: str) -> list[Match]:
        """Every one of these papers explained for this reader, whatever brought it: a
        delivered digest rebuilt (view in browser). The keywords are the delivery's own."""
        meaning = self.meaning()
        query = self.index.query(keywords, filters=True)
        profile = None
        if subscriber.profile is not None or subscriber.rated_at is not None:
            profile = profiles.stored(subscriber, meaning.model_name)
        explained = [meaning.explain(query, profile, s) for s in meaning.score_each(query, profile)]
        if subscriber.rated_at is None:
            return explained
        # A paper they rated since says so, rather than that it is like itself.
        rated = dict(profiles.standing(subscriber).values_list("paper_id", "action"))
        return [  # the action, "more" or "less", is the word the why says
            replace(m, like_kind="rated", like=rated[m.paper_id]) if m.paper_id in rated else m
            for m in explained
        ]

    def _query(self, subscriber: Subscriber) -> Query:
        # Keywords are optional, and lines of exclusions only allowed, for a reader with seed
        # papers or an interest (subscribers.forms.ProfileFields); for others, they must be
        # keywords as the parser wants them.
        try:
            return self.index.query(subscriber.query)
        except QueryError:
            if not subscriber.has_profile:
                raise
            return self.index.query(subscriber.query, filters=True)

    def meaning(self) -> MeaningIndex:
        """The index with the papers' vectors, built when a reader with a profile or filters
        first needs it (without an installed model, no paper has one: keywords and filters
        still work)."""
        with self._lock:
            if self._meaning is None:
                self._meaning = vectors.meaning_index(self.index, list(self.papers.values()))
            return self._meaning

    @classmethod
    def of(cls, papers: Iterable[Paper]) -> EditionPapers:
        rows = list(papers)
        return cls({p.pk: p for p in rows}, build_index([p.as_text() for p in rows]))

    @classmethod
    def for_reader(cls, start: datetime, end: datetime, listing: str) -> EditionPapers:
        """The papers first seen in a reader's window, of the arXiv announcements they take,
        as they are now (an edit, a hide or a late arrival counts)."""
        return cls.of(reader_papers(start, end, listing))


def reader_papers(start: datetime, end: datetime, listing: str) -> QuerySet[Paper]:
    wanted = Listing(listing).announce_types
    return Paper.objects.first_seen_between(start, end).filter(announce_type__in=wanted)


def most_upvoted(
    matches: Sequence[Match], papers: Mapping[int, Paper], limit: int
) -> tuple[Match, ...]:
    """Matches ranked by their papers' upvotes (the better match first among equals)."""
    ranked = sorted(matches, key=lambda m: -(papers[m.paper_id].upvotes or 0))
    return tuple(ranked[:limit])


# --- planning -----------------------------------------------------------------------------------


def plan_edition(
    frequency: str,
    now: datetime | None = None,
    *,
    any_hour: bool = False,
    on_batch: Callable[[Edition, Sequence[int]], object] | None = None,
) -> Edition | None:
    """Plan the send slot `now` falls in: a delivery for each receiving reader of this
    frequency who is due in it (editions.py), with their period and window. Returns the
    slot's edition, or None when nobody is due. Safe to run any number of times, and
    concurrently: a reader has at most one delivery per edition and per period of theirs.
    `any_hour` plans every reader who has had no digest this period, with papers until now
    (an operator's "send now").
    `on_batch(edition, subscriber_ids)` is called after each batch of PLAN_BATCH deliveries,
    so that workers can start on them while the rest are planned."""
    now = now or timezone.now()
    slot = editions.closing(now, any_hour=any_hour)
    edition = None
    for period, due in due_readers(frequency, slot, any_hour=any_hour):
        rows = due.values_list("pk", "created_at", "previous_end")
        for batch in batched(rows.iterator(chunk_size=5000), PLAN_BATCH):
            edition = edition or editions.open_edition(frequency, slot)
            create_deliveries(edition, period, batch)
            if on_batch:
                on_batch(edition, [pk for pk, _, _ in batch])
    if edition is None:
        edition = Edition.objects.filter(frequency=frequency, window_end=slot).first()
    if edition is not None:
        edition.refresh_from_db()  # its window_start came down as readers were planned
        if edition.planned_at is None:
            edition.mark_planned()
    return edition


PLAN_BATCH = 1000  # workers start on the first thousand while the rest are planned


def due_readers(
    frequency: str, slot: datetime, *, any_hour: bool = False
) -> Iterator[tuple[str, QuerySet[Subscriber]]]:
    """The receiving readers of this frequency due in `slot` and not planned yet, by their
    period, each annotated with where their previous digest ended (`previous_end`)."""
    receiving = Subscriber.objects.filter(
        status=Subscriber.Status.ACTIVE, paused=False, frequency=frequency
    )
    zones = receiving.order_by().values_list("time_zone", flat=True).distinct()
    for group in editions.due_groups(frequency, slot, zones, any_hour=any_hour):
        due = receiving.filter(time_zone__in=group.zones).exclude(deliveries__period=group.period)
        if not any_hour:
            due = due.filter(send_hour__in=group.hours)
            if frequency == Frequency.WEEKLY:
                due = due.filter(send_weekday=group.weekday)
        # Their period is new, but a digest hours ago (before a switch between daily and
        # weekly, or a move to a zone behind theirs) still makes it today's.
        due = due.annotate(previous_end=Subquery(_previous_end()))
        due = due.filter(
            Q(previous_end__isnull=True) | Q(previous_end__lte=slot - editions.MIN_GAP)
        )
        yield group.period, due.order_by("pk")


def next_due(frequency: str, after: datetime) -> datetime | None:
    """The first slot at or after `after` in which a reader of this frequency is due (None:
    no receiving readers). Send times are ranked in Python; the database is asked only
    whether the earliest have had this period's digest, until one has not."""
    readers = Subscriber.objects.filter(
        status=Subscriber.Status.ACTIVE, paused=False, frequency=frequency
    )
    schedules = readers.values_list("time_zone", "send_hour", "send_weekday").distinct()
    upcoming = [
        (editions.next_send(frequency, *schedule, after), False, schedule)
        for schedule in schedules.order_by()
    ]
    heapq.heapify(upcoming)
    while upcoming:
        when, after_this_period, (zone, hour, weekday) = heapq.heappop(upcoming)
        if after_this_period:
            return when
        same = readers.filter(time_zone=zone, send_hour=hour, send_weekday=weekday)
        period = editions.period_key(frequency, after.astimezone(editions.zone(zone)).date())
        if same.exclude(deliveries__period=period).exists():
            return when
        later = editions.next_send(frequency, zone, hour, weekday, after, had_this_period=True)
        heapq.heappush(upcoming, (later, True, (zone, hour, weekday)))
    return None


def _previous_end() -> QuerySet[Delivery]:
    """Where a reader's latest digest ended (their next one starts there): the latest
    planned, as editions are planned in the order of their slots."""
    latest = Delivery.objects.filter(subscriber=OuterRef("pk"), edition__isnull=False).order_by(
        "-pk"
    )
    return latest.values("edition__window_end")[:1]


def create_deliveries(
    edition: Edition, period: str, readers: Sequence[tuple[int, datetime, datetime | None]]
) -> None:
    """Insert one delivery per (subscriber, signed up, previous digest's end), ignoring those
    that exist (a second planner's rows are the same rows); the edition's window reaches back
    to the earliest of them."""
    slot = edition.window_end
    rows = [
        Delivery(
            subscriber_id=pk,
            edition=edition,
            period=period,
            window_start=editions.window_start(previous_end, signed_up, slot),
        )
        for pk, signed_up, previous_end in readers
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    earliest = min(row.window_start for row in rows)
    Edition.objects.filter(pk=edition.pk, window_start__gt=earliest).update(window_start=earliest)


def plan_announcement(
    announcement: Announcement,
    *,
    on_batch: Callable[[Sequence[int]], object] | None = None,
) -> None:
    """A delivery of the announcement for each receiving subscriber; safe to run any number
    of times, and concurrently (one delivery per subscriber and announcement). Paused readers
    asked for no mail for now, and get none."""
    receiving = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, paused=False)
    ids = receiving.order_by("pk").values_list("pk", flat=True)
    for batch in batched(ids.iterator(chunk_size=5000), PLAN_BATCH):
        Delivery.objects.bulk_create(
            [Delivery(subscriber_id=pk, announcement=announcement) for pk in batch],
            ignore_conflicts=True,
        )
        if on_batch:
            on_batch(batch)
    if announcement.planned_at is None:
        announcement.mark_planned()


def dispatch(
    edition: Edition | Announcement | None = None,
    *,
    stale_before: datetime | None = None,
    subscribers: Sequence[int] | None = None,
) -> list[list[int]]:
    """Chunks of planned delivery ids to hand to workers, marked as dispatched now: the
    edition's or announcement's (only these subscribers' if given: a batch just planned) or,
    without one, planned work of any whose dispatch is older than `stale_before`."""
    planned = Delivery.objects.filter(status=Status.PLANNED)
    if isinstance(edition, Announcement):
        planned = planned.filter(announcement=edition, dispatched_at__isnull=True)
        if subscribers is not None:
            planned = planned.filter(subscriber_id__in=subscribers)
    elif edition is not None:
        planned = planned.filter(edition=edition, dispatched_at__isnull=True)
        if subscribers is not None:
            planned = planned.filter(subscriber_id__in=subscribers)
    else:
        planned = planned.filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale_before))
    # Chunks keep an edition's readers of one window together: their papers are built once.
    ordered = planned.order_by("announcement_id", "edition_id", "window_start", "pk")
    ids = list(ordered.values_list("pk", flat=True))
    now = timezone.now()
    for batch in batched(ids, 5000):
        Delivery.objects.filter(pk__in=batch).update(dispatched_at=now)
    return [list(chunk) for chunk in batched(ids, settings.DELIVERY_CHUNK_SIZE)]


# --- sending ------------------------------------------------------------------------------------


def claim_deliveries(ids: Sequence[int]) -> list[Delivery]:
    """Take planned deliveries for this worker, stamped with one claim; rows another worker
    holds are skipped."""
    claim = secrets.token_hex(16)
    with transaction.atomic():
        free = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=Status.PLANNED)
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=list(free), status=Status.PLANNED).update(
            status=Status.SENDING,
            claim=claim,
            claimed_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    return list(
        Delivery.objects.filter(claim=claim, status=Status.SENDING)
        .select_related("subscriber", "edition", "announcement")
        .order_by("announcement_id", "edition_id", "window_start", "pk")
    )


def send_chunk(
    ids: Sequence[int],
    rate: SendRate | None = None,
    progress: Callable[[int], object] | None = None,
) -> ChunkResult:
    """Send these deliveries, up to SEND_CONCURRENCY at a time under the shared send rate
    (`rate`, or the configured one), claiming a few at a time as senders need them (so a
    claim's lease runs while its messages are being sent, not while they wait their turn);
    `progress(1)` is called as each is finished. On a transient failure what this run claimed
    and had not sent goes back to planned and TransientSendError is raised (the task retries
    the chunk; rows already finished are not claimed again)."""
    senders = _senders(len(ids))
    run = ChunkRun(ids, rate or shared_send_rate(), progress, claim_batch=2 * senders)
    try:
        run.send_all(senders)
    finally:
        if rate is None:
            run.rate.close()
        _record_last_digest(run.sent)
    return run.result()


def _senders(deliveries: int) -> int:
    # Other threads have their own database connections, which cannot see rows of a
    # transaction still open on this one (a test's, or a caller's), and SQLite takes one
    # writer at a time: then messages go one by one, from this thread.
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        return 1
    return max(1, min(settings.SEND_CONCURRENCY, deliveries))


class ChunkRun:
    """A chunk's deliveries, claimed a few at a time and handed to sender threads, and what
    became of them."""

    def __init__(
        self,
        ids: Sequence[int],
        rate: SendRate,
        progress: Callable[[int], object] | None = None,
        *,
        claim_batch: int = 1,
    ) -> None:
        self.rate, self.progress, self.claim_batch = rate, progress, claim_batch
        self.outcomes: Counter[Status] = Counter()
        self.sent: list[Delivery] = []
        self.error: Exception | None = None  # the first failure that stopped the senders
        self._ids = deque(ids)  # not claimed yet
        self._claimed: deque[Delivery] = deque()  # claimed, not started
        # Readers of an edition mostly share one window (where yesterday's slot ended) and
        # one choice of announcements: their papers are built once for all of them.
        self._papers: LRU[tuple[int, datetime, str], EditionPapers] = LRU(KEPT_WINDOWS)
        self._lock = threading.Lock()

    def send_all(self, senders: int) -> None:
        # This thread is one of the senders (its database connection outlives the chunk);
        # each other sender opens its own for the chunk.
        threads = [threading.Thread(target=self._thread) for _ in range(senders - 1)]
        for thread in threads:
            thread.start()
        try:
            self._sender()
        except Exception as exc:
            self._stop(exc)
        finally:
            for thread in threads:
                thread.join()
        if self.error is not None:
            release(list(self._claimed), str(self.error))
            raise self.error

    def result(self) -> ChunkResult:
        return ChunkResult(dict(self.outcomes))

    def _thread(self) -> None:
        try:
            self._sender()
        except Exception as exc:  # not lost in a thread: the chunk stops and raises it
            log.exception("a sender thread stopped")
            self._stop(exc)
        finally:
            connection.close()  # this thread's own database connection

    def _sender(self) -> None:
        delivery = None
        try:
            with open_connection() as mail_connection:
                while (work := self._next()) is not None:
                    delivery, papers = work
                    self._record(delivery, deliver(delivery, papers, mail_connection, self.rate))
        except TransientSendError as exc:  # raised before its message was handed over
            self._stop(exc)
            if delivery is not None:
                release([delivery], str(exc))

    def _stop(self, exc: Exception) -> None:
        with self._lock:
            self.error = self.error or exc

    def _next(self) -> tuple[Delivery, EditionPapers | None] | None:
        with self._lock:
            while self.error is None and not self._claimed and self._ids:
                batch = [self._ids.popleft() for _ in range(min(self.claim_batch, len(self._ids)))]
                self._claimed.extend(claim_deliveries(batch))
            if self.error is not None or not self._claimed:
                return None
            delivery = self._claimed.popleft()
            if delivery.announcement_id:
                return delivery, None
            return delivery, self._papers.get_or_make(  # built by whoever meets it first
                (delivery.edition_id, delivery.window_start, delivery.subscriber.listing),
                lambda: EditionPapers.for_reader(
                    delivery.window_start, delivery.edition.window_end, delivery.subscriber.listing
                ),
            )

    def _record(self, delivery: Delivery, status: Status) -> None:
        with self._lock:
            self.outcomes[status] += 1
            if status == Status.SENT:
                self.sent.append(delivery)
            if self.progress:
                self.progress(1)


def _record_last_digest(deliveries: Sequence[Delivery]) -> None:
    # Once per chunk, not per message: it is informational, and the per-message marking that
    # guarantees exactly-once is Delivery.status. So it never hides the chunk's own outcome.
    if not deliveries:
        return
    digests = [d.subscriber_id for d in deliveries if d.edition_id]
    try:
        Subscriber.objects.filter(pk__in=digests).update(last_digest_at=timezone.now())
    except DatabaseError:
        log.warning("could not record when %s subscribers last got a digest", len(deliveries))


def deliver(
    delivery: Delivery, papers: EditionPapers | None, connection: object, rate: SendRate
) -> Status:
    """Match, compose and send one delivery (`papers` is None for an announcement's); returns
    what became of it. A delivery whose claim passed to another worker (the lease ran out) is
    left to that worker."""
    subscriber = delivery.subscriber
    if not subscriber.receives_digests:
        delivery.mark_skipped(_not_receiving(subscriber))
        return Status.SKIPPED
    if papers is None:
        return _announce(delivery, connection, rate)
    try:
        matches = papers.matches_for(subscriber)
    except QueryError as exc:
        delivery.mark_failed(f"keywords no longer valid: {exc.message}")
        return Status.FAILED
    if not matches and not settings.DIGEST_SEND_EMPTY:
        delivery.mark_skipped("nothing matched")
        return Status.SKIPPED
    try:
        message = composing.digest_message(
            subscriber,
            delivery.edition,
            matches,
            papers.papers,
            delivery=delivery,
            highlighter=papers.highlighter,
        )
    except Exception as exc:  # a bug in one digest must not stall the whole chunk
        log.exception("composing delivery %s failed", delivery.pk)
        delivery.mark_failed(f"could not compose the email: {type(exc).__name__}: {exc}")
        return Status.FAILED
    return hand_over(delivery, message, [m.paper_id for m in matches], connection, rate)


def _announce(delivery: Delivery, connection: object, rate: SendRate) -> Status:
    try:
        message = composing.announcement_message(
            delivery.subscriber, delivery.announcement, delivery
        )
    except Exception as exc:  # as with digests: one bad message must not stall the chunk
        log.exception("composing announcement delivery %s failed", delivery.pk)
        delivery.mark_failed(f"could not compose the email: {type(exc).__name__}: {exc}")
        return Status.FAILED
    return hand_over(delivery, message, [], connection, rate)


def hand_over(
    delivery: Delivery,
    message: EmailMultiAlternatives,
    paper_ids: list[int],
    connection: object,
    rate: SendRate,
) -> Status:
    """Send one composed digest under the shared rate and mark it. Throttling answers slow the
    rate and the same message is tried again, without using up the delivery's attempts."""
    for pause in (*THROTTLE_PAUSES, None):
        if not _may_start(delivery, rate):
            return _stopped_before_sending(delivery)
        try:
            connection.send_messages([message])  # type: ignore[attr-defined]
            break
        except Throttled as exc:
            rate.slow_down()
            if pause is None:
                raise
            log.info("throttled (%s); trying delivery %s again", exc, delivery.pk)
            time.sleep(pause * random.uniform(0.5, 1.5))
        except Deferred as exc:  # this recipient, later (the sweep hands it out again)
            release([delivery], str(exc))
            return Status.PLANNED
        except PermanentSendError as exc:
            delivery.mark_failed(str(exc))
            return Status.FAILED
    message_id = sent_message_id(message)
    query = delivery.subscriber.query if delivery.edition_id else ""
    record_durably(lambda: _mark_sent(delivery, message_id, paper_ids, query))
    return Status.SENT


def _may_start(delivery: Delivery, rate: SendRate) -> bool:
    """Wait for this message's slot, then renew the claim (False: stop before sending). A
    failure here comes before the hand-off, so the delivery can safely go back to planned."""
    try:
        rate.acquire()
        return delivery.renew_claim()
    except (DatabaseError, RedisError) as exc:
        raise TransientSendError(
            f"could not start the message: {type(exc).__name__}: {exc}"
        ) from exc


# Backing off in the worker, about half a minute in all; after that the chunk waits for
# Celery's retry (the ESP may be throttling for a while).
THROTTLE_PAUSES = (0.5, 1, 2, 4, 8, 15)


def _mark_sent(delivery: Delivery, message_id: str, paper_ids: list[int], query: str) -> None:
    if not delivery.mark_sent(message_id, paper_ids, query):
        log.warning("delivery %s was sent after its lease passed to another worker", delivery.pk)


def _stopped_before_sending(delivery: Delivery) -> Status:
    """The claim could not be renewed: the subscriber stopped receiving since the claim
    (skip it), or the lease passed to another worker (leave it to them)."""
    subscriber = Subscriber.objects.get(pk=delivery.subscriber_id)
    if not subscriber.receives_digests and delivery.mark_skipped(_not_receiving(subscriber)):
        return Status.SKIPPED
    log.info("delivery %s is held by another worker now; leaving it", delivery.pk)
    return Status.SENDING


def _not_receiving(subscriber: Subscriber) -> str:
    if subscriber.status == Subscriber.Status.ACTIVE and subscriber.paused:
        return "subscriber paused"
    return f"subscriber is {subscriber.get_status_display().lower()}"


def record_durably(mark: Callable[[], None]) -> None:
    """Record that a message went out, waiting through a database restart: giving up here
    would leave the delivery unmarked and the sweep would send it a second time."""
    for pause in RECORD_PAUSES:
        try:
            return mark()
        except (OperationalError, InterfaceError):
            log.warning("database unavailable; retrying in %s s to record a sent message", pause)
            connection.close()  # Django reconnects on the next query
            time.sleep(pause)
    return mark()


RECORD_PAUSES = (0.5, 1, 2, 4, 8, 15, 30, 30)  # about 90 s in all


def release(deliveries: Sequence[Delivery], reason: str) -> None:
    """Give claimed deliveries back (planned again), or fail those out of attempts."""
    for delivery in deliveries:
        if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            delivery.mark_failed(f"gave up after {delivery.attempts} attempts: {reason}")
        else:
            Delivery.objects.filter(
                pk=delivery.pk, status=Status.SENDING, claim=delivery.claim
            ).update(
                status=Status.PLANNED,
                claim="",
                claimed_at=None,
                failure_reason=f"will retry: {reason}",
            )


def sweep(now: datetime | None = None) -> tuple[int, list[list[int]]]:
    """Recover work a crashed worker or a lost message left behind: claims older than the
    lease go back to planned (or fail when out of attempts); returns how many were reclaimed
    and the chunks of planned work to dispatch again."""
    stale = (now or timezone.now()) - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    reclaimed = _reclaim(Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=stale))
    return reclaimed, dispatch(stale_before=stale)


def _reclaim(lost: QuerySet[Delivery]) -> int:
    """Claims whose worker went silent: failed when out of attempts, else planned again."""
    lost.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
        status=Status.FAILED, failure_reason="the worker stopped while sending it, every attempt"
    )
    return lost.update(
        status=Status.PLANNED,
        claim="",
        claimed_at=None,
        failure_reason="reclaimed after the worker stopped mid-send",
    )


def resume_unfinished(
    edition: Edition | Announcement, now: datetime | None = None
) -> list[list[int]]:
    """An edition's unfinished work, for an operator or send_digests to send again now
    (without beat's sweep): claims older than the lease go back to planned (as the sweep
    does), and every planned delivery is handed out, however recently it was dispatched
    (claims keep it exactly-once)."""
    stale = (now or timezone.now()) - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    of = {"announcement" if isinstance(edition, Announcement) else "edition": edition}
    _reclaim(Delivery.objects.filter(**of, status=Status.SENDING, claimed_at__lt=stale))
    Delivery.objects.filter(**of, status=Status.PLANNED).update(dispatched_at=None)
    return dispatch(edition)


def retry_failed(edition: Edition) -> list[list[int]]:
    """Give an edition's failed deliveries a fresh set of attempts; returns the chunks to
    dispatch. The old reason stays in front of the new one, for the record."""
    Delivery.objects.filter(edition=edition, status=Status.FAILED).update(
        status=Status.PLANNED,
        attempts=0,
        claim="",
        claimed_at=None,
        dispatched_at=None,
        failure_reason=Concat(Value("retried by an operator after: "), F("failure_reason")),
    )
    return dispatch(edition)
