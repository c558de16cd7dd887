from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from digest.ingest.readers import KINDS
from digest.matching.index import PaperText


def new_message_key() -> str:
    return secrets.token_hex(16)


class Frequency(models.TextChoices):
    """How often a reader gets a digest: the editions there are and the subscriber's choice."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"

    @property
    def span(self) -> timedelta:
        """One period: a day, or an ISO week."""
        return timedelta(weeks=1) if self == Frequency.WEEKLY else timedelta(days=1)


# From the readers' registry: a new kind of source is a new reader module, not an edit here.
SourceKind = models.TextChoices(
    "SourceKind", [(kind.name, (kind.value, kind.label)) for kind in KINDS.values()]
)


class FetchStatus(models.TextChoices):
    """How a source's last fetch went; also each FetchLog row's outcome."""

    NEVER = "never", "Never fetched"
    OK = "ok", "OK"
    NOT_MODIFIED = "not-modified", "Not modified"
    ERROR = "error", "Error"


class Source(models.Model):
    """A feed we fetch on a schedule: an arXiv listing, an API query, any RSS/Atom, HF daily."""

    Kind = SourceKind
    Status = FetchStatus

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=1000)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FEED)
    enabled = models.BooleanField(default=True)
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEVER)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def record_fetch(
        self,
        *,
        status: FetchStatus,
        etag: str | None = None,
        last_modified: str | None = None,
        content_hash: str | None = None,
    ) -> None:
        """Remember a successful fetch and, when given, the validators for the next one."""
        self.last_fetched_at = timezone.now()
        self.last_status = status
        self.last_error = ""
        self.consecutive_failures = 0
        fields = ["last_fetched_at", "last_status", "last_error", "consecutive_failures"]
        for name, value in (
            ("etag", etag),
            ("last_modified", last_modified),
            ("content_hash", content_hash),
        ):
            if value is not None:
                setattr(self, name, value)
                fields.append(name)
        self.save(update_fields=fields)

    def record_failure(self, error: str) -> None:
        self.last_fetched_at = timezone.now()
        self.last_status = self.Status.ERROR
        self.last_error = error
        self.consecutive_failures += 1
        self.save(
            update_fields=["last_fetched_at", "last_status", "last_error", "consecutive_failures"]
        )

    def forget_validators(self) -> None:
        """Make the next fetch unconditional and the next body count as new (e.g. after edits)."""
        self.etag = self.last_modified = self.content_hash = ""
        self.save(update_fields=["etag", "last_modified", "content_hash"])


class FetchLog(models.Model):
    """One row per fetch or file ingest: the history operators read when a source misbehaves."""

    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="fetch_logs"
    )
    label = models.CharField(max_length=300, help_text="Source name or file path")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=FetchStatus.choices)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text="Parser warnings and rejected entries")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Source admin: "latest fetches of this source" and the dashboard's error history.
            models.Index(fields=["source", "-started_at"], name="fetchlog_source_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.label} at {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class PaperQuerySet(models.QuerySet["Paper"]):
    def visible(self) -> PaperQuerySet:
        return self.filter(hidden=False)

    def listed(self) -> PaperQuerySet:
        """Visible papers a source listed: editions, the site and previews show these."""
        return self.visible().filter(listed=True)

    def first_seen_between(self, start: datetime, end: datetime) -> PaperQuerySet:
        return self.listed().filter(first_seen_at__gte=start, first_seen_at__lt=end)

    def recent(self, days: int) -> PaperQuerySet:
        since = timezone.now() - timedelta(days=days)
        return self.listed().filter(first_seen_at__gte=since)

    def texts(self, limit: int | None = None) -> list[PaperText]:
        """What matching needs, newest first (ties in the index keep this order)."""
        rows = self.order_by("-first_seen_at", "-id")[:limit].values_list(*TEXT_FIELDS)
        return [_paper_text(*row) for row in rows]

    def update(self, **fields: Any) -> int:
        """Every write bumps updated_at (bulk_update comes through here too): the page cache
        and the recent-papers index see a change only through it (recent.papers_version)."""
        fields.setdefault("updated_at", timezone.now())
        return super().update(**fields)


# Paper → matching input, for rows and for instances alike.
TEXT_FIELDS = (
    "id",
    "title",
    "abstract",
    "authors",
    "categories",
    "upvotes",
    "published_at",
    "first_seen_at",
)


def _paper_text(
    pk: int,
    title: str,
    abstract: str,
    authors: list[str] | None,
    categories: list[str] | None,
    upvotes: int | None,
    published_at: datetime | None,
    first_seen_at: datetime,
) -> PaperText:
    return PaperText(
        id=pk,
        title=title,
        abstract=abstract,
        authors=tuple(authors or ()),
        categories=tuple(categories or ()),
        upvotes=upvotes,
        published=published_at or first_seen_at,
    )


class Paper(models.Model):
    """One paper, whichever sources and versions it arrived through (deduped by `key`)."""

    key = models.CharField(
        max_length=300,
        unique=True,
        help_text="Canonical identity: arxiv:ID, doi:…, or url:host/path",
    )
    arxiv_id = models.CharField("arXiv id", max_length=40, blank=True)
    version = models.PositiveSmallIntegerField(default=0, help_text="arXiv version; 0 if unknown")
    title = models.TextField()
    abstract = models.TextField(blank=True)
    authors = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    abs_url = models.URLField("abstract link", max_length=1000, blank=True)
    pdf_url = models.URLField("PDF link", max_length=1000, blank=True)
    announce_type = models.CharField(max_length=20, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    upvotes = models.IntegerField(null=True, blank=True)
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="papers",
        help_text="The source that first brought it",
    )
    # Every source that has listed it, the first one included (ingest adds a row per batch).
    sources = models.ManyToManyField(
        Source, related_name="carried", blank=True, help_text="The sources that carried it"
    )
    hidden = models.BooleanField(default=False, help_text="Hidden papers never reach a digest")
    listed = models.BooleanField(
        default=True,
        help_text="False for a paper fetched only as a reader's seed: not new, so no edition "
        "or listing shows it until a source lists it (then it is first seen that day)",
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        help_text="Set when an operator merged this duplicate into another paper (it is hidden)",
    )
    # Its title and abstract embedded (float16, see matching/embeddings.py) by the model named
    # in embedded_with; cleared when either text changes, so the next embedding run redoes it.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedded_with = models.CharField(max_length=80, blank=True, editable=False)

    objects = PaperQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        indexes = [
            # Edition windows (first_seen_at range) and the landing page (newest first).
            models.Index(fields=["-first_seen_at", "-id"], name="paper_newest_first"),
            # Admin and "is this arXiv id known?" lookups; most papers have one.
            models.Index(fields=["arxiv_id"], name="paper_arxiv_id"),
            # "Has anything changed?" for page caches (see recent.papers_version).
            models.Index(fields=["updated_at"], name="paper_updated"),
            # The embedding run: papers not embedded yet by the current model.
            models.Index(fields=["embedded_with"], name="paper_embedded_with"),
        ]

    def __str__(self) -> str:
        return self.title[:80]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every write bumps updated_at, as PaperQuerySet.update does for bulk writes.
        self.updated_at = timezone.now()
        if (update_fields := kwargs.get("update_fields")) is not None:
            kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(*args, **kwargs)

    def as_text(self) -> PaperText:
        return _paper_text(*(getattr(self, name) for name in TEXT_FIELDS))

    @property
    def authors_display(self) -> str:
        names = list(self.authors or [])
        if len(names) > 6:
            return ", ".join(names[:5]) + f" and {len(names) - 5} more"
        return ", ".join(names)


class Edition(models.Model):
    """One send slot of a frequency: the readers whose local send time had come at
    `window_end` (a quarter hour, UTC), and the papers first seen before it.

    Each reader's papers chain on their own (Delivery.window_start): from where their previous
    digest ended, so no paper is missed or sent twice, whatever their time zone or hour, a
    daylight-saving change or a send that was late. The edition's window_start is the earliest
    of its deliveries'.
    """

    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    period = models.DateField(help_text="The UTC day of the send slot")
    window_start = models.DateTimeField(help_text="Papers first seen from here…")
    window_end = models.DateTimeField(help_text="…until just before here: the send slot")
    created_at = models.DateTimeField(default=timezone.now)
    planned_at = models.DateTimeField(
        null=True, blank=True, help_text="When every delivery row existed"
    )

    class Meta:
        ordering = ["-window_end", "frequency"]
        permissions = [
            ("retry_edition", "Can retry an edition's failed deliveries"),
            ("send_test_digest", "Can send a test digest"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["frequency", "window_end"], name="one_edition_per_slot"
            ),
        ]
        indexes = [
            # "The latest edition of this frequency" (where the next window starts).
            models.Index(fields=["frequency", "-window_end"], name="edition_latest"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        slot = self.window_end.astimezone(UTC)
        return f"{self.get_frequency_display()} edition of {slot:%a %b %-d, %Y, %H:%M} UTC"

    def papers(self) -> PaperQuerySet:
        return Paper.objects.first_seen_between(self.window_start, self.window_end)

    def mark_planned(self) -> None:
        self.planned_at = timezone.now()
        self.save(update_fields=["planned_at"])


class Announcement(models.Model):
    """A message from the operators to every receiving subscriber, sent as digests are (the
    same planning, send rate, unsubscribe headers and exactly-once deliveries)."""

    subject = models.CharField(max_length=150)
    body = models.TextField(help_text="Plain text; blank lines start paragraphs, links work")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    # Set by the click that sends it, before any work: from then on it is what readers get.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    planned_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When every delivery row existed"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("send_announcement", "Can send an announcement to every subscriber")]

    def __str__(self) -> str:
        return self.subject

    def mark_planned(self) -> None:
        self.planned_at = timezone.now()
        self.save(update_fields=["planned_at"])


class Delivery(models.Model):
    """One subscriber's copy of one edition or announcement; unique, so nobody gets either
    twice."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    # No single-column indexes on the two keys: the unique (subscriber, edition) index and the
    # (edition, status) index serve those look-ups, and every status change on the send path
    # writes an entry into each index the row has.
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    edition = models.ForeignKey(
        Edition,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    announcement = models.ForeignKey(
        Announcement,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    # The reader's own day ("2026-12-02") or ISO week ("2026-W49"), in their time zone: one
    # digest per reader per period, however their hour, zone or the clocks change.
    period = models.CharField(max_length=10, blank=True, help_text="Empty for an announcement")
    window_start = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Their papers first seen from here (where their previous digest ended) until "
        "the edition's send slot; empty for an announcement",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PLANNED)
    failure_reason = models.TextField(blank=True)
    paper_ids = models.JSONField(default=list, blank=True, help_text="The papers sent, in order")
    query = models.TextField(blank=True, help_text="The keywords it was matched with")
    message_id = models.CharField(max_length=300, blank=True)
    message_key = models.CharField(
        max_length=32,
        default=new_message_key,
        editable=False,
        help_text="Random, so the Message-ID is unique across installs and stable per delivery",
    )
    claim = models.CharField(
        max_length=32, blank=True, editable=False, help_text="Which claim holds it while sending"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "edition"], name="one_delivery_per_edition"
            ),
            models.UniqueConstraint(
                fields=["subscriber", "period"],
                condition=models.Q(edition__isnull=False),
                name="one_delivery_per_period",
            ),
            models.UniqueConstraint(
                fields=["subscriber", "announcement"],
                condition=models.Q(announcement__isnull=False),
                name="one_delivery_per_announcement",
            ),
            models.CheckConstraint(
                condition=models.Q(edition__isnull=False, announcement__isnull=True)
                | models.Q(edition__isnull=True, announcement__isnull=False),
                name="delivery_of_an_edition_or_an_announcement",
            ),
        ]
        indexes = [
            # Per-edition counts, and dispatching an edition's planned deliveries.
            models.Index(fields=["edition", "status"], name="delivery_edition_status"),
            models.Index(
                fields=["announcement", "status"],
                name="delivery_announcement_status",
                condition=models.Q(announcement__isnull=False),
            ),
            # Planning: each due reader's latest digest (where their next one starts), one
            # index step per reader however long their history.
            models.Index(
                fields=["subscriber", "-id"],
                name="delivery_latest_digest",
                condition=models.Q(edition__isnull=False),
            ),
            # The sweep: work that was dispatched or claimed long ago and never finished.
            models.Index(
                fields=["status", "claimed_at"],
                name="delivery_unfinished",
                condition=models.Q(status__in=["planned", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.edition or self.announcement} to {self.subscriber_id} ({self.status})"

    def mark_sent(self, message_id: str, paper_ids: list[int], query: str) -> bool:
        """Record the hand-off; False (nothing written) if this worker's claim has passed to
        another worker meanwhile."""
        self.status, self.message_id, self.sent_at = self.Status.SENT, message_id, timezone.now()
        self.paper_ids, self.query, self.failure_reason = paper_ids, query, ""
        return self._finish(
            "status", "message_id", "sent_at", "paper_ids", "query", "failure_reason"
        )

    def mark_skipped(self, reason: str) -> bool:
        self.status, self.failure_reason = self.Status.SKIPPED, reason
        return self._finish("status", "failure_reason")

    def mark_failed(self, reason: str) -> bool:
        self.status, self.failure_reason = self.Status.FAILED, reason[:2000]
        return self._finish("status", "failure_reason")

    def renew_claim(self) -> bool:
        """Just before a message is handed over: True if this worker still holds the claim
        and the subscriber still receives digests (an unsubscribe, bounce or complaint
        recorded since the claim stops the message here); the lease starts again."""
        receiving = Delivery.objects.filter(
            pk=self.pk,
            status=self.Status.SENDING,
            claim=self.claim,
            subscriber__status="active",
            subscriber__paused=False,
        )
        return receiving.update(claimed_at=timezone.now()) == 1

    def _finish(self, *fields: str) -> bool:
        # Guarded by the claim: a worker whose lease ran out cannot overwrite a row that the
        # sweep handed to another worker.
        held = Delivery.objects.filter(pk=self.pk, status=self.Status.SENDING, claim=self.claim)
        return held.update(**{name: getattr(self, name) for name in fields}) == 1


class Heartbeat(models.Model):
    """When a Celery worker was last seen working, for the admin dashboard."""

    role = models.CharField(max_length=200, primary_key=True, help_text="e.g. worker@host")
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.role} at {self.seen_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(cls, role: str) -> None:
        cls.objects.update_or_create(role=role[:200], defaults={"seen_at": timezone.now()})
