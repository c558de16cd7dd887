"""What the admin dashboard shows: plain queries returning plain data, one function per panel.

Every figure is one or two indexed queries, so the admin index stays fast with a million
subscribers. The broker is asked for the queue depth with a short timeout; when it cannot
answer, the dashboard says so instead of failing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import ChannelError

from digest.delivery import sending
from digest.matching import profiles, vectors
from digest.models import Delivery, Edition, Frequency, Heartbeat, Paper, Source
from subscribers.models import Feedback, StatusChange, Subscriber

log = logging.getLogger(__name__)

# Gmail's bulk-sender guidelines: keep reported spam below 0.3% of delivered mail.
COMPLAINT_LIMIT = 0.003
WORKER_STALE = timedelta(minutes=10)
BEAT_STALE = timedelta(minutes=15)  # the sweep runs every 5 minutes; beat saves every 3


@dataclass(frozen=True)
class DayCount:
    day: date
    signups: int
    confirmations: int


@dataclass(frozen=True)
class SendProgress:
    per_second: float  # deliveries marked sent over the last RATE_WINDOW, per second
    unfinished: int
    measured_at: datetime = field(default_factory=timezone.now)

    @property
    def eta(self) -> timedelta | None:
        """At the current pace; None when nothing went out lately (stalled, or not started)."""
        if not self.per_second:
            return None
        return timedelta(seconds=round(self.unfinished / self.per_second))

    @property
    def done_at(self) -> datetime | None:
        return self.measured_at + self.eta if self.eta is not None else None

    @property
    def rate(self) -> str:
        """ "0.5", "0.05", "1,250": as precise as a slow start needs, no trailing zeros."""
        return f"{self.per_second:,.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class EditionSummary:
    frequency: str
    last: Edition | None
    counts: dict[str, int]
    next_at: datetime | None
    schedule_enabled: bool
    progress: SendProgress | None = None  # while the last edition has unfinished deliveries


@dataclass(frozen=True)
class SendingHealth:
    sent: int
    bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def bounce_percent(self) -> float:
        return 100 * self.bounce_rate

    @property
    def complaint_percent(self) -> float:
        return 100 * self.complaint_rate

    @property
    def complaints_too_high(self) -> bool:
        return self.sent > 0 and self.complaint_rate > COMPLAINT_LIMIT


@dataclass(frozen=True)
class SourcesPanel:
    rows: list[Source]
    has_papers: bool  # any listed paper (a reader's seed fetched on its own is not listed)

    @property
    def getting_started(self) -> bool:
        """Nothing to send yet: no source, or sources that have brought no paper."""
        return not self.rows or not self.has_papers


@dataclass(frozen=True)
class ServiceStatus:
    in_process: bool  # no broker: tasks run inside the web process
    queue: str
    queue_depth: int | None  # None: the broker did not answer
    workers: list[Heartbeat] = field(default_factory=list)
    beat_seen_at: datetime | None = None
    now: datetime = field(default_factory=timezone.now)

    @property
    def worker_ok(self) -> bool:
        return self.in_process or any(self.now - w.seen_at < WORKER_STALE for w in self.workers)

    @property
    def beat_ok(self) -> bool:
        return self.beat_seen_at is not None and self.now - self.beat_seen_at < BEAT_STALE


def subscriber_table() -> dict[str, dict[str, int]]:
    """{status label: {frequency: count, "total": count}} for every status, zeros included."""
    counts = Counter(
        {
            (row["status"], row["frequency"]): row["n"]
            for row in Subscriber.objects.values("status", "frequency").annotate(n=Count("id"))
        }
    )
    table = {}
    for status, label in Subscriber.Status.choices:
        row = {f: counts[(status, f)] for f in Frequency.values}
        table[label] = {**row, "total": sum(row.values())}
    return table


def daily_signups(days: int = 30, now: datetime | None = None) -> list[DayCount]:
    """Signups (new addresses) and confirmations per day, oldest first, zeros included."""
    today = (now or timezone.now()).date()
    since = timezone.make_aware(
        datetime.combine(today - timedelta(days=days - 1), datetime.min.time())
    )
    signups = _per_day(Subscriber.objects.filter(created_at__gte=since), "created_at")
    confirmations = _per_day(
        StatusChange.objects.filter(to_status=Subscriber.Status.ACTIVE, created_at__gte=since),
        "created_at",
    )
    return [
        DayCount(day, signups.get(day, 0), confirmations.get(day, 0))
        for day in (today - timedelta(days=n) for n in range(days - 1, -1, -1))
    ]


def _per_day(queryset, column: str) -> dict[date, int]:
    rows = queryset.annotate(day=TruncDate(column)).values("day").annotate(n=Count("id"))
    return {row["day"]: row["n"] for row in rows}


def editions(now: datetime | None = None) -> list[EditionSummary]:
    now = now or timezone.now()
    summaries = []
    for frequency in Frequency.values:
        last = Edition.objects.filter(frequency=frequency).order_by("-window_end").first()
        counts: dict[str, int] = dict.fromkeys(Delivery.Status.values, 0)
        if last:
            counts.update(
                Delivery.objects.filter(edition=last)
                .values_list("status")
                .annotate(n=Count("id"))
                .values_list("status", "n")
            )
        task = _planner()
        in_progress = counts[Delivery.Status.PLANNED] + counts[Delivery.Status.SENDING]
        summaries.append(
            EditionSummary(
                frequency=frequency,
                last=last,
                counts=counts,
                next_at=sending.next_due(frequency, now) if task and task.enabled else None,
                schedule_enabled=bool(task and task.enabled),
                progress=send_progress(last, now) if last and in_progress else None,
            )
        )
    return summaries


@dataclass(frozen=True)
class EditionFeedback:
    """The ratings that stand from one edition's digests."""

    edition: Edition
    sent: int
    more: int
    less: int
    readers: int  # who rated at least one of its papers


@dataclass(frozen=True)
class Learning:
    editions: list[EditionFeedback]  # the latest first
    rating_readers: int  # receiving readers whose ratings move their profile
    own_models: int  # of them, ranked by a model of their own


FEEDBACK_EDITIONS = 10


def learning(limit: int = FEEDBACK_EDITIONS) -> Learning:
    """ "More / less like this" per edition, and how many readers the ratings personalize."""
    latest = list(Edition.objects.order_by("-window_end", "-pk")[:limit])
    more, less = Feedback.Action.MORE, Feedback.Action.LESS
    clicks = {
        row["delivery__edition"]: row
        for row in Feedback.objects.filter(delivery__edition__in=latest)
        .values("delivery__edition")
        .annotate(
            more=Count("id", filter=Q(action=more)),
            less=Count("id", filter=Q(action=less)),
            readers=Count("subscriber", distinct=True),
        )
    }
    sent = dict(
        Delivery.objects.filter(edition__in=latest, status=Delivery.Status.SENT)
        .values("edition")
        .annotate(n=Count("id"))
        .values_list("edition", "n")
    )
    rating = profiles.receiving().filter(rated_at__isnull=False)
    installed = vectors.installed()
    own = rating.filter(learned__isnull=False, learned_with=installed.name) if installed else None
    rows = []
    for edition in latest:
        row = clicks.get(edition.pk, {"more": 0, "less": 0, "readers": 0})
        counts = row["more"], row["less"], row["readers"]
        rows.append(EditionFeedback(edition, sent.get(edition.pk, 0), *counts))
    return Learning(
        editions=rows,
        rating_readers=rating.count(),
        own_models=own.count() if own is not None else 0,
    )


RATE_WINDOW = timedelta(seconds=60)


def send_progress(edition: Edition, now: datetime | None = None) -> SendProgress:
    """How fast an edition goes out now (deliveries marked sent in the last minute, per
    second) and how many deliveries are left."""
    now = now or timezone.now()
    since = now - RATE_WINDOW
    counts = Delivery.objects.filter(edition=edition).aggregate(
        recent=Count("id", filter=Q(status=Delivery.Status.SENT, sent_at__gte=since)),
        unfinished=Count(
            "id", filter=Q(status__in=[Delivery.Status.PLANNED, Delivery.Status.SENDING])
        ),
    )
    per_second = counts["recent"] / RATE_WINDOW.total_seconds()
    return SendProgress(per_second, counts["unfinished"], now)


def _planner() -> PeriodicTask | None:
    """Beat's quarter-hour planner, which sends each reader's digest at their hour."""
    return PeriodicTask.objects.filter(task="digest.send_due").first()


def sending_health(days: int = 30, now: datetime | None = None) -> SendingHealth:
    since = (now or timezone.now()) - timedelta(days=days)
    sent = Delivery.objects.filter(status=Delivery.Status.SENT, sent_at__gte=since).count()
    changes = StatusChange.objects.filter(created_at__gte=since).aggregate(
        bounces=Count("id", filter=Q(to_status=Subscriber.Status.BOUNCED)),
        complaints=Count("id", filter=Q(to_status=Subscriber.Status.COMPLAINED)),
    )
    return SendingHealth(sent=sent, **changes)


def sources() -> SourcesPanel:
    """Each source with its paper count, and whether any paper is listed yet: a fresh install
    is told what to do first."""
    rows = list(Source.objects.annotate(paper_total=Count("papers")).order_by("name"))
    return SourcesPanel(rows=rows, has_papers=Paper.objects.filter(listed=True).exists())


def service_status(now: datetime | None = None) -> ServiceStatus:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    beat = PeriodicTask.objects.filter(enabled=True).aggregate(seen=Max("last_run_at"))["seen"]
    workers = list(Heartbeat.objects.filter(role__startswith="worker:").order_by("-seen_at")[:10])
    in_process = bool(current_app.conf.task_always_eager)
    return ServiceStatus(
        in_process=in_process,
        queue=queue,
        queue_depth=None if in_process else queue_depth(queue),
        workers=workers,
        beat_seen_at=beat,
        now=now or timezone.now(),
    )


def queue_depth(queue: str) -> int | None:
    """Messages waiting in the broker's queue, or None if the broker does not answer."""
    try:
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
            return declared.message_count
    except ChannelError:  # Redis keeps no empty lists; AMQP: no worker declared it yet
        return 0
    except Exception:
        log.info("queue depth of %s unavailable", queue, exc_info=True)
        return None
