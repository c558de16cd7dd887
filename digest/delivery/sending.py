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

import logging
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone
from redis.exceptions import RedisError

from digest.delivery import composing, editions
from digest.delivery.send_rate import SendRate, shared_send_rate
from digest.matching import profiles, vectors
from digest.matching.index import Match, PaperIndex, build_index, match_papers
from digest.matching.query import Query, QueryError
from digest.matching.semantic import MeaningIndex
from digest.models import Delivery, Edition, Paper
from lib.emails import (
    Deferred,
    PermanentSendError,
    Throttled,
    TransientSendError,
    open_connection,
    sent_message_id,
)
from lib.lru import LRU
from subscribers.models import Subscriber

log = logging.getLogger(__name__)
Status = Delivery.Status
KEPT_MATCHES = 1_000  # distinct (keywords, papers per email) a chunk keeps matches for


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
        their keywords find, and nothing if they have none."""
        query = self._query(subscriber)
        if subscriber.profile is None and not query.excluded:
            return self._by_keywords(query, subscriber.per_email)
        meaning = self.meaning()
        profile = None
        if subscriber.profile is not None:
            profile = profiles.stored(subscriber, meaning.model_name)
        if profile is None and not query.excluded:
            return self._by_keywords(query, subscriber.per_email)
        chosen = meaning.select(query, profile, subscriber.per_email)
        return tuple(meaning.explain(query, profile, scored) for scored in chosen)

    def explain_each(self, subscriber: Subscriber, keywords: str) -> list[Match]:
        """Every one of these papers explained for this reader, whatever brought it: a
        delivered digest rebuilt (view in browser). The keywords are the delivery's own."""
        meaning = self.meaning()
        query = self.index.query(keywords, filters=True)
        profile = None
        if subscriber.profile is not None:
            profile = profiles.stored(subscriber, meaning.model_name)
        return [meaning.explain(query, profile, s) for s in meaning.score_each(query, profile)]

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
    def for_edition(cls, edition: Edition) -> EditionPapers:
        """The edition's papers as they are now (an edit, a hide or a late arrival counts)."""
        return cls.of(edition.papers())


def batched(items: Iterable[int], size: int) -> Iterator[tuple[int, ...]]:
    iterator = iter(items)
    while batch := tuple(islice(iterator, size)):
        yield batch


# --- planning -----------------------------------------------------------------------------------


def plan_edition(
    frequency: str,
    now: datetime | None = None,
    *,
    on_batch: Callable[[Edition, Sequence[int]], object] | None = None,
) -> Edition:
    """Open the edition for now's period and create its deliveries; safe to run any number
    of times, and concurrently. `on_batch(edition, subscriber_ids)` is called after each
    batch of PLAN_BATCH deliveries, so that workers can start on them while the rest are
    planned."""
    edition = editions.open_edition(frequency, now or timezone.now())
    if edition.planned_at is None:
        receiving = (
            Subscriber.objects.filter(
                status=Subscriber.Status.ACTIVE, paused=False, frequency=frequency
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for batch in batched(receiving.iterator(chunk_size=5000), PLAN_BATCH):
            create_deliveries(edition, batch)
            if on_batch:
                on_batch(edition, batch)
        edition.mark_planned()
    return edition


PLAN_BATCH = 1000  # workers start on the first thousand while the rest are planned


def create_deliveries(edition: Edition, subscribers: Sequence[int]) -> None:
    """Insert one delivery per subscriber, ignoring those that exist (a second planner's rows
    are the same rows)."""
    Delivery.objects.bulk_create(
        [Delivery(subscriber_id=pk, edition=edition) for pk in subscribers],
        ignore_conflicts=True,
    )


def dispatch(
    edition: Edition | None = None,
    *,
    stale_before: datetime | None = None,
    subscribers: Sequence[int] | None = None,
) -> list[list[int]]:
    """Chunks of planned delivery ids to hand to workers, marked as dispatched now: the
    edition's (only these subscribers' if given: a batch just planned) or, without an
    edition, planned work of any edition whose dispatch is older than `stale_before`."""
    planned = Delivery.objects.filter(status=Status.PLANNED)
    if edition is not None:
        planned = planned.filter(edition=edition, dispatched_at__isnull=True)
        if subscribers is not None:
            planned = planned.filter(subscriber_id__in=subscribers)
    else:
        planned = planned.filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale_before))
    ids = list(planned.order_by("edition_id", "pk").values_list("pk", flat=True))
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
        .select_related("subscriber", "edition")
        .order_by("edition_id", "pk")
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
        self._papers: dict[int, EditionPapers] = {}
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
                while (delivery := self._next()) is not None:
                    papers = self._papers[delivery.edition_id]
                    self._record(delivery, deliver(delivery, papers, mail_connection, self.rate))
        except TransientSendError as exc:  # raised before its message was handed over
            self._stop(exc)
            if delivery is not None:
                release([delivery], str(exc))

    def _stop(self, exc: Exception) -> None:
        with self._lock:
            self.error = self.error or exc

    def _next(self) -> Delivery | None:
        with self._lock:
            while self.error is None and not self._claimed and self._ids:
                batch = [self._ids.popleft() for _ in range(min(self.claim_batch, len(self._ids)))]
                self._claimed.extend(claim_deliveries(batch))
            if self.error is not None or not self._claimed:
                return None
            delivery = self._claimed.popleft()
            if delivery.edition_id not in self._papers:  # built once, by whoever meets it first
                self._papers[delivery.edition_id] = EditionPapers.for_edition(delivery.edition)
            return delivery

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
    try:
        Subscriber.objects.filter(pk__in=[d.subscriber_id for d in deliveries]).update(
            last_digest_at=timezone.now()
        )
    except DatabaseError:
        log.warning("could not record when %s subscribers last got a digest", len(deliveries))


def deliver(
    delivery: Delivery, papers: EditionPapers, connection: object, rate: SendRate
) -> Status:
    """Match, compose and send one delivery; returns what became of it. A delivery whose
    claim passed to another worker (the lease ran out) is left to that worker."""
    subscriber = delivery.subscriber
    if not subscriber.receives_digests:
        delivery.mark_skipped(_not_receiving(subscriber))
        return Status.SKIPPED
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
    subscriber = delivery.subscriber
    record_durably(lambda: _mark_sent(delivery, message_id, paper_ids, subscriber.query))
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


def resume_unfinished(edition: Edition, now: datetime | None = None) -> list[list[int]]:
    """An edition's unfinished work, for an operator or send_digests to send again now
    (without beat's sweep): claims older than the lease go back to planned (as the sweep
    does), and every planned delivery is handed out, however recently it was dispatched
    (claims keep it exactly-once)."""
    stale = (now or timezone.now()) - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    _reclaim(Delivery.objects.filter(edition=edition, status=Status.SENDING, claimed_at__lt=stale))
    Delivery.objects.filter(edition=edition, status=Status.PLANNED).update(dispatched_at=None)
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
