"""Runs, and the breaks they find: one Break per difference, one observation per run."""

from django.conf import settings
from django.db import models

from reconciliation.engine.rule_definition import SEVERITIES
from reconciliation.engine.types import TYPES
from reconciliation.models.datasets import MONEY, Dataset

TYPE_CHOICES = [(name, name) for name in TYPES]
SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]  # the rules grade breaks: their list, least first


class Run(models.Model):
    """One reconciliation of an internal dataset against an external one, under a rule set."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    type = models.CharField(max_length=20, choices=TYPE_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    internal_dataset = models.ForeignKey(
        "reconciliation.Dataset", on_delete=models.PROTECT, related_name="+"
    )
    # The book's account, held with it so one composite key of a correction covers its run,
    # rule set version, book and account (corrections migration 0008); the database keeps it
    # the book's own (`run_book_of_its_account`, reconciliation migration 0016).
    internal_account = models.ForeignKey(
        "reconciliation.Account", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False, db_constraint=False, editable=False,
    )  # fmt: skip
    external_dataset = models.ForeignKey(
        "reconciliation.Dataset", on_delete=models.PROTECT, related_name="+"
    )
    prices_dataset = models.ForeignKey(
        "reconciliation.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule_set_version = models.ForeignKey(
        "reconciliation.RuleSetVersion", on_delete=models.PROTECT, related_name="runs"
    )
    as_of = models.DateTimeField(help_text="balances are compared as of this time")
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=100, default="queued")
    message = models.TextField(blank=True, help_text="why it failed, in words a user can act on")
    cancel_requested = models.BooleanField(default=False)
    deliveries = models.PositiveSmallIntegerField(default=0)
    # Who holds the run now (its execution or its merge), so that a sweep can hand the run to
    # another worker when this one stops sending heartbeats (reconciliation/runs/sweep.py).
    # Empty while nobody holds it: queued, handed back, or held by its parts.
    worker = models.CharField(max_length=200, blank=True, help_text="the claiming worker's name")
    worker_instance = models.CharField(
        max_length=64, blank=True, help_text="the claiming worker process's heartbeat id"
    )
    break_count = models.PositiveIntegerField(null=True, blank=True)
    match_count = models.PositiveIntegerField(null=True, blank=True)
    by_severity = models.JSONField(default=dict, blank=True)
    engine_ms = models.PositiveIntegerField(null=True, blank=True)
    partition_count = models.PositiveSmallIntegerField(
        default=0, help_text="0: executed whole; otherwise split by asset into this many parts"
    )
    merges = models.PositiveSmallIntegerField(
        default=0, help_text="attempts to merge a split run's parts (a worker may die in one)"
    )
    # The book adjustments the run includes (SPEC 3.3): those of its internal dataset up to
    # this id, fixed when the run is started, so a redelivery or a part reads the same book.
    adjustments_through = models.BigIntegerField(
        default=0, help_text="the last book adjustment included (0: none)"
    )
    adjustment_count = models.PositiveIntegerField(
        default=0, help_text="how many book adjustments the run includes"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["type", "-id"]), models.Index(fields=["status"])]
        constraints = [
            # What a correction's composite foreign key points at: its run, the run's rule set
            # version, book and the book's account, together (corrections migration 0008).
            models.UniqueConstraint(
                fields=["id", "rule_set_version", "internal_dataset", "internal_account"],
                name="run_version_book_and_account",
            ),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="run_progress_pct"),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running"])
                | models.Q(finished_at__isnull=False),
                name="finished_run_has_end",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.type}, {self.status})"

    def save(self, *args, **kwargs):
        # The book's account goes with the book (a correction's key points at both), however
        # the run is made.
        if self.internal_account_id is None and self.internal_dataset_id is not None:
            self.internal_account_id = (
                Dataset.objects.filter(pk=self.internal_dataset_id)
                .values_list("account_id", flat=True)
                .first()
            )
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class RunPartition(models.Model):
    """One part of a large run (a group of assets), executed by any worker (SPEC 7.4).

    Its breaks (as Arrow IPC) wait here until every part is done; the last part to finish merges
    them into the run's breaks, through the same store as a whole run. Its trade matches are
    stored by the part itself, once, in the transaction that marks it done.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="partitions")
    number = models.PositiveSmallIntegerField()
    assets = models.JSONField(help_text="asset codes (without suffix) this part reconciles")
    row_count = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    deliveries = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    worker_instance = models.CharField(
        max_length=64, blank=True, help_text="the claiming worker process's heartbeat id"
    )
    breaks = models.BinaryField(null=True, blank=True)
    match_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="trade matches, stored by the part itself"
    )
    break_count = models.PositiveIntegerField(null=True, blank=True)
    engine_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="run_partition_once"),
            models.CheckConstraint(
                condition=~models.Q(status="done") | models.Q(break_count__isnull=False),
                name="done_partition_has_result",
            ),
        ]

    def __str__(self) -> str:
        return f"part {self.number} of run {self.run_id}"


class Break(models.Model):
    """A difference, the same across runs while it lasts (identity = scope + break key)."""

    class Status(models.TextChoices):
        OPEN = "open"
        INVESTIGATING = "investigating"
        RESOLVED = "resolved"
        ACCEPTED = "accepted"

    identity = models.CharField(max_length=64)  # unique: see Meta (no pattern index needed)
    type = models.CharField(max_length=20, choices=TYPE_CHOICES)
    break_key = models.CharField(max_length=500)
    # Without a database FK: the accounts are those of the run's datasets, which reference them
    # with a constraint and can never be deleted (trigger), so no break can lose its account;
    # a deferred check per new break cost a run of 125,000 new breaks a second at commit.
    # Indexed together with the type, for live breaks only (see Meta): what a run resolves.
    internal_account = models.ForeignKey(
        "reconciliation.Account", on_delete=models.PROTECT, related_name="+",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    external_account = models.ForeignKey(
        "reconciliation.Account", on_delete=models.PROTECT, related_name="+",
        db_constraint=False, db_index=False,
    )  # fmt: skip
    account = models.CharField(max_length=100, blank=True)
    asset = models.CharField(max_length=40, blank=True)
    entity = models.CharField(max_length=300, blank=True)
    field = models.CharField(max_length=50)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    accepted_reason = models.TextField(blank=True)
    assignee = models.ForeignKey(  # indexed where set (see Meta): most breaks have nobody
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    # Set only by the store, from the run it holds locked; runs are never deleted. Without a
    # database FK: a deferred check per row cost a run of 100,000 new breaks seconds at commit.
    first_seen_run = models.ForeignKey(
        Run, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    last_seen_run = models.ForeignKey(  # not indexed: a run's breaks are found by observations
        Run, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The latest observation's values, kept here so lists need no join.
    internal_value = models.DecimalField(null=True, blank=True, **MONEY)
    external_value = models.DecimalField(null=True, blank=True, **MONEY)
    difference = models.DecimalField(null=True, blank=True, **MONEY)
    difference_pct = models.DecimalField(null=True, blank=True, **MONEY)
    value_rc = models.DecimalField(null=True, blank=True, **MONEY)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    causes = models.JSONField(default=list, blank=True)
    suggested_value = models.DecimalField(null=True, blank=True, **MONEY)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        # A run that sees a break again changes no indexed column unless the break's severity or
        # status changes (last seen, values, sightings are not indexed), and the table keeps
        # half of each page free (fillfactor 50, set in migration 0009): PostgreSQL then
        # rewrites the row in its page without touching any index (a HOT update). Seeing
        # 125,000 breaks again took 5.5 s with every index rewritten, 1.3 s this way; the price
        # is a table twice as large on disk.
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["type", "status", "-id"]),
            models.Index(fields=["severity", "status", "-id"]),
            models.Index(fields=["asset", "-id"]),
            models.Index(fields=["account", "-id"]),
            models.Index(
                fields=["type", "internal_account", "external_account"],
                condition=models.Q(status__in=["open", "investigating"]),
                name="live_break_scope",
            ),
            models.Index(
                fields=["assignee"],
                condition=models.Q(assignee__isnull=False),
                name="assigned_break",
            ),
            # The overview's days: found and resolved per day. Neither changes when a run sees
            # a break again, so those updates stay HOT.
            models.Index(fields=["first_seen_at"], name="break_first_seen"),
            models.Index(
                fields=["resolved_at"],
                condition=models.Q(resolved_at__isnull=False),
                name="break_resolved",
            ),
        ]
        constraints = [
            # A constraint rather than unique=True, which adds a text-pattern index nobody uses.
            models.UniqueConstraint(fields=["identity"], name="break_identity_once"),
            models.CheckConstraint(
                condition=~models.Q(status="accepted") | ~models.Q(accepted_reason=""),
                name="accepted_break_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | models.Q(resolved_at__isnull=False),
                name="resolved_break_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"break {self.pk} {self.break_key} ({self.status})"


class BreakObservation(models.Model):
    """What one run saw of one break (the history across runs)."""

    # Written only by the store, for the run it holds locked and the breaks it just merged;
    # without database FKs, whose deferred per-row checks doubled the commit of a large run.
    run = models.ForeignKey(
        Run, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    break_record = models.ForeignKey(
        Break, on_delete=models.DO_NOTHING, related_name="observations", db_constraint=False
    )
    internal_value = models.DecimalField(null=True, blank=True, **MONEY)
    external_value = models.DecimalField(null=True, blank=True, **MONEY)
    difference = models.DecimalField(null=True, blank=True, **MONEY)
    value_rc = models.DecimalField(null=True, blank=True, **MONEY)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "break_record"], name="observed_once_per_run")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} saw break {self.break_record_id}"


class BreakComment(models.Model):
    break_record = models.ForeignKey(Break, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on break {self.break_record_id}"


class MatchChunk(models.Model):
    """Up to CHUNK_ROWS of a run's trade matches, in match id order, as compressed Arrow IPC.

    Matches are a run's record of how it paired trades: written once (a million in a run), read
    page by page (API) or all at once (export), never queried by field. Stored as chunks, a
    million take a fraction of a second to write instead of seconds of row-by-row parsing and
    indexing; a page reads one chunk per part whose id range covers it (reconciliation/
    match_store.py). A whole run writes part 0; each part of a split run its own number.
    """

    # No database FK: written only by the store for the run it holds locked; runs are never
    # deleted, and a run that does not succeed has its chunks deleted (run_execution.finish).
    run = models.ForeignKey(
        Run, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    part = models.PositiveSmallIntegerField()
    number = models.PositiveIntegerField()
    first_match_id = models.CharField(max_length=200, db_collation="C")
    last_match_id = models.CharField(max_length=200, db_collation="C")
    match_count = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "part", "number"], name="match_chunk_once"),
        ]
        indexes = [models.Index(fields=["run", "last_match_id"], name="match_chunk_by_last_id")]

    def __str__(self) -> str:
        return f"matches {self.first_match_id}..{self.last_match_id} of run {self.run_id}"


class Schedule(models.Model):
    """A run started periodically by beat with the latest datasets of two accounts (SPEC 2.6)."""

    name = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=20, choices=TYPE_CHOICES)
    internal_account = models.ForeignKey(
        "reconciliation.Account", on_delete=models.PROTECT, related_name="+"
    )
    external_account = models.ForeignKey(
        "reconciliation.Account", on_delete=models.PROTECT, related_name="+"
    )
    prices_source = models.ForeignKey(
        "reconciliation.Source", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule_set = models.ForeignKey("reconciliation.RuleSet", on_delete=models.PROTECT)
    cron = models.CharField(max_length=100, help_text="minute hour day-of-month month day-of-week")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.type}, {self.cron})"
