"""Plan an edition's deliveries, claim them, and match, compose and send each one exactly once.

Exactly-once lives in the database: planning inserts at most one Delivery per (subscriber,
edition); a worker claims deliveries with SELECT … FOR UPDATE SKIP LOCKED and a status-guarded
UPDATE; each delivery is marked as soon as its message is handed over, so a crash loses at
most the message in flight. A crashed worker's claims expire after a lease and the sweep
hands them out again. Nothing here imports Celery; tasks.py wraps these functions.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby, islice

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from digest import composing, editions
from digest.matching import Match, PaperIndex, build_index, match_papers
from digest.models import Delivery, Edition, Paper
from digest.query import QueryError, parse_query
from subscribers.models import Subscriber

log = logging.getLogger(__name__)
Status = Delivery.Status


class TransientSendError(Exception):
    """The mail server or ESP cannot take messages now; the rest of the chunk waits."""


class PermanentSendError(Exception):
    """This one message cannot be delivered (a refused recipient); record it and go on."""


@dataclass(frozen=True)
class ChunkResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def summary(self) -> str:
        return f"sent {self.sent}, skipped {self.skipped}, failed {self.failed}"


@dataclass(frozen=True)
class EditionPapers:
    """An edition's papers, their index and prerendered email parts: built once per chunk,
    shared by its deliveries."""

    papers: dict[int, Paper]
    index: PaperIndex
    prerendered: composing.Prerendered = field(default_factory=composing.Prerendered)
    _matches: dict[tuple[str, int], tuple[Match, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    def matches(self, keywords: str, limit: int) -> tuple[Match, ...]:
        """The digest for these keywords (QueryError if invalid). Subscribers who typed the
        same keywords get the same papers (17% of a worker's digests in the send benchmark),
        so it is kept, up to a bound."""
        key = (keywords, limit)
        found = self._matches.get(key)
        if found is None:
            found = tuple(match_papers(parse_query(keywords), self.index, limit))
            if len(self._matches) < MAX_KEPT_MATCHES:
                self._matches[key] = found
        return found

    @classmethod
    def of(cls, papers: Iterable[Paper]) -> EditionPapers:
        rows = list(papers)
        return cls({p.pk: p for p in rows}, build_index([p.as_text() for p in rows]))

    @classmethod
    def for_edition(cls, edition: Edition) -> EditionPapers:
        """The edition's papers, reused by the next chunk this process sends while they are
        unchanged (an edit, a hide or a late arrival changes the fingerprint)."""
        rows = edition.papers()
        # Edits and hides set updated_at to now; arrivals and hides change the count and sum.
        fingerprint = (
            edition.pk,
            *rows.aggregate(n=Count("pk"), ids=Sum("pk"), latest=Max("updated_at")).values(),
        )
        cached = _edition_cache.get(fingerprint)
        if cached is None:
            _edition_cache.clear()  # one edition at a time is what a worker sends
            cached = _edition_cache[fingerprint] = cls.of(rows)
        return cached


MAX_KEPT_MATCHES = 1_000  # ~5 kB each (ten matches): bounded, so memory stays flat

# Per process: a Celery prefork child runs one task at a time. Under a threaded pool two
# chunks may both build it; either copy is correct.
_edition_cache: dict[tuple[object, ...], EditionPapers] = {}


def batched(items: Iterable[int], size: int) -> Iterable[tuple[int, ...]]:
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


PLAN_BATCH = 1000  # planning 10,000 deliveries takes ~0.5 s; workers start after the first 1,000


def create_deliveries(edition: Edition, subscribers: Sequence[int]) -> None:
    """Insert one delivery per subscriber, ignoring those that exist (a second planner's rows
    are the same rows)."""
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_create(
            [Delivery(subscriber_id=pk, edition=edition) for pk in subscribers],
            ignore_conflicts=True,
        )
        return
    # One statement with the ids as one array: bulk_create's ten parameters per row, quoted
    # into the SQL in Python, were most of planning's time. The other columns take the
    # model's defaults, cast as the model declares them.
    template = Delivery(edition=edition)
    fields = [f for f in Delivery._meta.concrete_fields if f.attname not in ("id", "subscriber_id")]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Delivery._meta.db_table} (subscriber_id, {columns}) "
            f"SELECT id, {values} FROM unnest(%s::bigint[]) AS id "
            "ON CONFLICT (subscriber_id, edition_id) DO NOTHING",
            [
                *(f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields),
                list(subscribers),
            ],
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
    """Take planned deliveries for this worker; rows another worker holds are skipped."""
    now = timezone.now()
    with transaction.atomic():
        free = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=Status.PLANNED)
            .values_list("pk", flat=True)
        )
        mine = list(free)
        Delivery.objects.filter(pk__in=mine, status=Status.PLANNED).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    claimed = list(
        Delivery.objects.filter(pk__in=mine)
        .select_related("subscriber")
        .only(*CLAIMED_FIELDS)
        .order_by("edition_id", "pk")
    )
    editions = Edition.objects.in_bulk({d.edition_id for d in claimed})
    for delivery in claimed:  # one Edition object per edition, not a copy per row
        delivery.edition = editions[delivery.edition_id]
    return claimed


# What sending reads (a digest's composing included): loading the rest of ~200 rows per chunk,
# timestamps above all, cost more than the claim itself.
CLAIMED_FIELDS = (
    "edition_id",
    "status",
    "attempts",
    *(
        f"subscriber__{name}"
        for name in (
            "email",
            "query",
            "per_email",
            "frequency",
            "status",
            "paused",
            "token_version",
        )
    ),
)


def send_chunk(ids: Sequence[int]) -> ChunkResult:
    """Claim these deliveries and send each over one connection; on a transient failure the
    unsent ones go back to planned and TransientSendError is raised (the task retries)."""
    deliveries = claim_deliveries(ids)
    outcomes: Counter[str] = Counter()
    done = 0
    try:
        for edition, group in groupby(deliveries, key=lambda d: d.edition):
            papers = EditionPapers.for_edition(edition)
            with _open_connection() as connection:
                for delivery in group:
                    outcomes[deliver(delivery, papers, connection)] += 1
                    done += 1
    except TransientSendError as exc:
        release(deliveries[done:], str(exc))
        raise
    finally:
        _record_last_digest(deliveries[:done])
    return ChunkResult(**outcomes)


def _record_last_digest(deliveries: Sequence[Delivery]) -> None:
    # Once per chunk, not per message: it is informational, and the per-message marking that
    # guarantees exactly-once is Delivery.status.
    sent = [d.subscriber_id for d in deliveries if d.status == Status.SENT]
    if sent:
        Subscriber.objects.filter(pk__in=sent).update(last_digest_at=timezone.now())


def deliver(delivery: Delivery, papers: EditionPapers, connection: object) -> str:
    """Match, compose and send one delivery; returns "sent", "skipped" or "failed"."""
    subscriber = delivery.subscriber
    if not subscriber.receives_digests:
        delivery.mark_skipped(
            "subscriber paused"
            if subscriber.paused
            else f"subscriber is {subscriber.get_status_display().lower()}"
        )
        return "skipped"
    try:
        matches = papers.matches(subscriber.query, subscriber.per_email)
    except QueryError as exc:
        delivery.mark_failed(f"keywords no longer valid: {exc.message}")
        return "failed"
    if not matches and not settings.DIGEST_SEND_EMPTY:
        delivery.mark_skipped("nothing matched")
        return "skipped"
    try:
        message = composing.digest_message(
            subscriber,
            delivery.edition,
            matches,
            papers.papers,
            delivery=delivery,
            prerendered=papers.prerendered,
        )
    except Exception as exc:  # a bug in one digest must not stall the whole chunk
        log.exception("composing delivery %s failed", delivery.pk)
        delivery.mark_failed(f"could not compose the email: {type(exc).__name__}: {exc}")
        return "failed"
    try:
        connection.send_messages([message])  # type: ignore[attr-defined]
    except PermanentSendError as exc:
        delivery.mark_failed(str(exc))
        return "failed"
    message_id, paper_ids = sent_message_id(message), [m.paper_id for m in matches]
    record_durably(lambda: delivery.mark_sent(message_id, paper_ids, subscriber.query))
    return "sent"


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
            Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
                status=Status.PLANNED, claimed_at=None, failure_reason=f"will retry: {reason}"
            )


def sweep(now: datetime | None = None) -> tuple[int, list[list[int]]]:
    """Recover work a crashed worker or a lost message left behind: claims older than the
    lease go back to planned (or fail when out of attempts); returns how many were reclaimed
    and the chunks of planned work to dispatch again."""
    stale = (now or timezone.now()) - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    lost = Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=stale)
    lost.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
        status=Status.FAILED, failure_reason="the worker stopped while sending it, every attempt"
    )
    reclaimed = lost.update(
        status=Status.PLANNED,
        claimed_at=None,
        failure_reason="reclaimed after the worker stopped mid-send",
    )
    return reclaimed, dispatch(stale_before=stale)


def retry_failed(edition: Edition) -> list[list[int]]:
    """Give an edition's failed deliveries a fresh set of attempts; returns the chunks to
    dispatch. The old reason stays in front of the new one, for the record."""
    Delivery.objects.filter(edition=edition, status=Status.FAILED).update(
        status=Status.PLANNED,
        attempts=0,
        claimed_at=None,
        dispatched_at=None,
        failure_reason=Concat(Value("retried by an operator after: "), F("failure_reason")),
    )
    return dispatch(edition)


def send_test_digest(
    to: str,
    *,
    subscriber: Subscriber | None = None,
    query: str = "",
    per_email: int = 10,
    frequency: str = "daily",
) -> str:
    """Send one digest now, subject marked [Test], recorded nowhere (no Delivery row): a
    subscriber's own, or one for keywords typed by an operator. Raises QueryError for invalid
    keywords, TransientSendError/PermanentSendError if the mail server says no."""
    subscriber = subscriber or Subscriber(
        email=to, query=query, per_email=per_email, frequency=frequency
    )
    edition = upcoming_edition(subscriber.frequency)
    papers = EditionPapers.of(edition.papers())
    if not papers.papers:  # just after an edition went out: show the last one instead
        edition = Edition.objects.filter(frequency=subscriber.frequency).first() or edition
        papers = EditionPapers.of(edition.papers())
    message, matches = compose_for(subscriber, edition, papers)
    message.subject = f"[Test] {message.subject}"
    message.to = [to]
    message.tags = ["test"]  # type: ignore[attr-defined]
    with _open_connection() as connection:
        connection.send_messages([message])
    return f"test digest with {len(matches)} papers sent to {to}"


# --- errors -------------------------------------------------------------------------------------


class _ClassifyingConnection:
    """Wraps a mail connection so every failure comes out as Transient- or PermanentSendError."""

    def __init__(self, connection: object) -> None:
        self.connection = connection

    def __enter__(self) -> _ClassifyingConnection:
        try:
            self.connection.open()  # type: ignore[attr-defined]
        except Exception as exc:
            raise classify(exc) from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.connection.close()  # type: ignore[attr-defined]
        except Exception:
            log.debug("closing the mail connection failed", exc_info=True)

    def send_messages(self, messages: list[EmailMultiAlternatives]) -> int:
        try:
            return self.connection.send_messages(messages)  # type: ignore[attr-defined]
        except Exception as exc:
            raise classify(exc) from exc


def _open_connection() -> _ClassifyingConnection:
    return _ClassifyingConnection(mail.get_connection(fail_silently=False))


def classify(exc: Exception) -> TransientSendError | PermanentSendError:
    """Is this failure about the recipient (permanent) or about the server (try later)?"""
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError(f"recipient refused by the ESP: {exc}")
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status in (400, 406, 422):
            return PermanentSendError(f"the ESP refused this message (HTTP {status}): {exc}")
        return TransientSendError(f"the ESP is unavailable (HTTP {status or 'no response'}): {exc}")
    if isinstance(exc, AnymailError | ImproperlyConfigured):
        # Configuration, not this message: every message would fail the same way, so stop
        # the chunk rather than burn through the list (it fails after the last attempt).
        return TransientSendError(f"email is misconfigured: {type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values()
        )
        if codes and all(500 <= code < 600 for code in codes):
            return PermanentSendError(f"recipient refused: {detail}")
        return TransientSendError(f"recipient deferred: {detail}")
    if isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500:
        return PermanentSendError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransientSendError(f"mail server said {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return TransientSendError(f"mail server unavailable: {type(exc).__name__}: {exc}")
    return PermanentSendError(f"could not send: {type(exc).__name__}: {exc}")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def sent_message_id(message: EmailMultiAlternatives) -> str:
    """The ESP's id when anymail reports one (its webhooks use it), else our Message-ID."""
    status = getattr(message, "anymail_status", None)
    return (
        status.message_id
        if status and status.message_id
        else message.extra_headers.get("Message-ID", "")
    )


# --- previews -----------------------------------------------------------------------------------


def upcoming_edition(frequency: str, now: datetime | None = None) -> Edition:
    """The edition that would close now (unsaved): for previews and dry runs."""
    now = now or timezone.now()
    latest = Edition.objects.filter(frequency=frequency).order_by("-window_end").first()
    window = editions.window_for(frequency, now, latest.window_end if latest else None)
    return Edition(
        frequency=window.frequency,
        period=window.period,
        window_start=window.start,
        window_end=window.end,
    )


def compose_for(
    subscriber: Subscriber, edition: Edition, papers: EditionPapers
) -> tuple[EmailMultiAlternatives, Sequence[Match]]:
    """Match and compose one subscriber's digest without sending it (QueryError if invalid)."""
    matches = papers.matches(subscriber.query, subscriber.per_email)
    message = composing.digest_message(
        subscriber, edition, matches, papers.papers, prerendered=papers.prerendered
    )
    return message, matches


def next_digest(
    subscriber: Subscriber, now: datetime | None = None
) -> tuple[EmailMultiAlternatives, Sequence[Match]]:
    """The digest this subscriber would get if their next edition closed now (not sent)."""
    edition = upcoming_edition(subscriber.frequency, now)
    return compose_for(subscriber, edition, EditionPapers.of(edition.papers()))


def delivered_digest(delivery: Delivery) -> EmailMultiAlternatives:
    """Rebuild a sent digest for "view in browser": its papers, in its order, re-explained."""
    stored = Paper.objects.in_bulk(delivery.paper_ids)
    papers = EditionPapers.of(stored[pk] for pk in delivery.paper_ids if pk in stored)
    order = {pk: i for i, pk in enumerate(delivery.paper_ids)}
    matches = match_papers(parse_query(delivery.query), papers.index, len(order) or 1)
    matches.sort(key=lambda m: order.get(m.paper_id, len(order)))
    return composing.digest_message(
        delivery.subscriber, delivery.edition, matches, papers.papers, delivery=delivery
    )
