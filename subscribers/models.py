from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from digest.models import Frequency
from subscribers.addresses import normalize_email

PER_EMAIL_CHOICES = [(n, f"{n} papers") for n in (5, 10, 20, 30, 50)]
INTEREST_LENGTH = 1_000
DEFAULT_SEND_HOUR = 7


class Weekday(models.IntegerChoices):
    """The day a weekly reader's digest comes (Python's and ISO's order, Monday first)."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Ranking(models.TextChoices):
    """How a reader's matches are ordered (a reader with no keywords and no profile gets the
    edition's most upvoted papers either way)."""

    RELEVANCE = "relevance", "Best match first"
    TRENDING = "trending", "Most upvoted first"


class Listing(models.TextChoices):
    """Which of arXiv's announcements a reader wants (papers from other sources always come)."""

    NEW = "new", "New submissions only"
    CROSS = "cross", "New submissions and cross-lists"
    ALL = "all", "New submissions, cross-lists and replacements"

    @property
    def announce_types(self) -> frozenset[str]:
        """The arXiv announce types this choice takes ("" is a paper from another source)."""
        wanted = {"", "new"}
        if self in (Listing.CROSS, Listing.ALL):
            wanted.add("cross")
        if self == Listing.ALL:
            wanted |= {"replace", "replace-cross"}
        return frozenset(wanted)


class Subscriber(models.Model):
    """A person who wants a digest: what they look for, how often, and where they stand."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        ACTIVE = "active", "Active"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained (marked as spam)"

    email = models.EmailField(max_length=254, help_text="As the subscriber typed it")
    email_key = models.CharField(
        max_length=254,
        unique=True,
        editable=False,
        help_text="Normalized address; one subscriber per address",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    query = models.TextField(
        "keywords", blank=True, help_text="One topic per line; see the query syntax"
    )
    interest = models.TextField(
        "interest",
        blank=True,
        max_length=INTEREST_LENGTH,
        help_text="What they work on, in their words; matched by meaning",
    )
    # The profile: one unit vector (float16) from the seed papers and the interest, made by
    # the model named in profile_model (matching/profiles.py); empty until made.
    profile = models.BinaryField(null=True, blank=True, editable=False)
    interest_vector = models.BinaryField(null=True, blank=True, editable=False)
    profile_model = models.CharField(max_length=80, blank=True, editable=False)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    # When their digest comes: their local hour (and weekday, for weekly) in their time zone,
    # an IANA name (validated against the zoneinfo database; detected in the browser).
    time_zone = models.CharField(max_length=64, default="UTC")
    send_hour = models.PositiveSmallIntegerField(
        "send hour",
        default=DEFAULT_SEND_HOUR,
        validators=[MaxValueValidator(23)],
        help_text="Local hour (0 to 23) their digest is sent",
    )
    send_weekday = models.PositiveSmallIntegerField(
        "weekday", choices=Weekday.choices, default=Weekday.MONDAY, help_text="Weekly digests"
    )
    ranking = models.CharField(max_length=16, choices=Ranking.choices, default=Ranking.RELEVANCE)
    listing = models.CharField(
        "arXiv announcements", max_length=8, choices=Listing.choices, default=Listing.CROSS
    )
    per_email = models.PositiveSmallIntegerField(
        "papers per email", default=10, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    paused = models.BooleanField(default=False, help_text="Paused subscribers get no digests")
    token_version = models.PositiveIntegerField(
        default=1, help_text="Bumped to invalidate every link already sent"
    )
    created_at = models.DateTimeField(default=timezone.now)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)
    # What their ratings taught (matching/learning.py): when they last rated a paper (empty
    # while no rating stands), and their own model once they have enough, by the embedding
    # model named in learned_with, with the words it weighs up and down (their interest card).
    rated_at = models.DateTimeField(null=True, blank=True, editable=False)
    learned = models.BinaryField(null=True, blank=True, editable=False)
    learned_with = models.CharField(max_length=80, blank=True, editable=False)
    learned_at = models.DateTimeField(null=True, blank=True, editable=False)
    learned_words = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("export_subscribers", "Can export subscribers as CSV"),
            ("import_subscribers", "Can import subscribers from CSV"),
        ]
        indexes = [
            # The edition planner: active, unpaused subscribers of one frequency.
            models.Index(
                fields=["frequency", "time_zone"],
                name="subscriber_receiving_tz",
                condition=models.Q(status="active", paused=False),
            ),
            # Dashboard: signups and confirmations per day.
            models.Index(fields=["created_at"], name="subscriber_created"),
            # The nightly refit and the dashboard: the few readers who rated papers.
            models.Index(
                fields=["rated_at"],
                name="subscriber_rated",
                condition=models.Q(rated_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: object, **kwargs: object) -> None:
        self.email_key = normalize_email(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def has_profile(self) -> bool:
        """Seed papers or an interest: matched by meaning as well as by keywords."""
        return bool(self.interest.strip()) or (self.pk is not None and self.seeds.exists())

    @property
    def wants_top_papers(self) -> bool:
        """No keywords and no profile: the edition's most upvoted papers (HF's daily email)."""
        return not self.query.strip() and not self.has_profile

    @property
    def receives_digests(self) -> bool:
        return self.status == self.Status.ACTIVE and not self.paused

    def change_status(
        self, status: str, reason: str, *, extra_fields: tuple[str, ...] = ()
    ) -> None:
        """Move to `status`, saving only what changed, and write the audit row."""
        previous = self.status
        self.status = status
        with transaction.atomic():
            self.save(update_fields=["status", *extra_fields])
            StatusChange.objects.create(
                subscriber=self, from_status=previous, to_status=status, reason=reason[:500]
            )

    def confirm(self, reason: str = "confirmed by email link") -> None:
        self.confirmed_at = timezone.now()
        self.change_status(self.Status.ACTIVE, reason, extra_fields=("confirmed_at",))

    def unsubscribe(self, reason: str) -> None:
        self.unsubscribed_at = timezone.now()
        self.change_status(self.Status.UNSUBSCRIBED, reason, extra_fields=("unsubscribed_at",))

    def restart(self, reason: str) -> None:
        """Back to pending for a new double opt-in; links from before stop working."""
        self.token_version += 1
        self.change_status(self.Status.PENDING, reason, extra_fields=("token_version",))

    def mark_confirmation_sent(self) -> None:
        self.confirmation_sent_at = timezone.now()
        self.save(update_fields=["confirmation_sent_at"])

    def record_email(self, kind: str, message_id: str) -> None:
        """Remember an email we sent them, so ESP events about it can be matched."""
        SentEmail.objects.create(subscriber=self, kind=kind, message_id=message_id[:300])


class SeedPaper(models.Model):
    """A paper the subscriber said they like: part of their profile, and named in the "why".
    `paper` is empty until the reference is found (an arXiv id we had not stored is fetched
    by the profile task)."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="seeds")
    paper = models.ForeignKey(
        "digest.Paper", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    arxiv_id = models.CharField("arXiv id", max_length=40, blank=True)
    doi = models.CharField("DOI", max_length=200, blank=True)
    title = models.CharField(max_length=500, blank=True)
    label = models.CharField(max_length=300, blank=True, help_text="How they gave it")
    added_at = models.DateTimeField(default=timezone.now)
    looked_up_at = models.DateTimeField(
        null=True, blank=True, help_text="When the arXiv API was last asked for it"
    )

    class Meta:
        ordering = ["-added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "paper"],
                condition=models.Q(paper__isnull=False),
                name="one_seed_per_paper",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.label or self.arxiv_id or self.doi


class Feedback(models.Model):
    """A reader's "more like this" or "less like this" on one paper: one per paper, the
    latest click standing. Their profile is made from these and what they named."""

    class Action(models.TextChoices):
        MORE = "more", "More like this"
        LESS = "less", "Less like this"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="feedback")
    paper = models.ForeignKey("digest.Paper", on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        "digest.Delivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feedback",
        help_text="The digest it was clicked in, if any",
    )
    action = models.CharField(max_length=4, choices=Action.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "paper"], name="one_feedback_per_paper"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.paper_id}"


class StatusChange(models.Model):
    """Audit trail: every status change with its reason, read by operators in the admin."""

    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=16, choices=Subscriber.Status.choices)
    to_status = models.CharField(max_length=16, choices=Subscriber.Status.choices)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Dashboard: confirmations, unsubscribes and bounces per day.
            models.Index(fields=["to_status", "created_at"], name="statuschange_daily"),
        ]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}: {self.reason}"


class SentEmail(models.Model):
    """A transactional email we sent a subscriber (a confirmation, "already subscribed"),
    with the id the ESP gave it, so an ESP event about it can be told from a forged one."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=32)
    message_id = models.CharField(max_length=300)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            # Tracking: "did we send this subscriber the message this event is about?"
            models.Index(fields=["subscriber", "message_id"], name="sentemail_message"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.subscriber_id} ({self.message_id})"


class EspEvent(models.Model):
    """What an ESP's webhook reported (a bounce, a complaint, an unsubscribe), whether it was
    about a message we sent, and what we did about it: the audit trail of tracking events."""

    class Kind(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        SOFT_BOUNCE = "soft_bounce", "Soft bounce"
        COMPLAINT = "complaint", "Spam complaint"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe"

    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="esp_events",
        help_text="Empty when the address is not a subscriber's",
    )
    esp = models.CharField(max_length=40)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    recipient = models.CharField(max_length=254)
    message_id = models.CharField(max_length=300, blank=True)
    matched = models.BooleanField(help_text="About a message we sent this subscriber")
    detail = models.CharField(max_length=500, blank=True, help_text="The ESP's description")
    outcome = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "ESP event"
        indexes = [
            # Counting a subscriber's recent soft bounces.
            models.Index(fields=["subscriber", "kind", "created_at"], name="espevent_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.esp} {self.get_kind_display()} for {self.recipient}"
