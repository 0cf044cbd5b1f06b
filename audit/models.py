"""The audit log: append-only, each entry chained to the one before by a SHA-256 hash."""

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One recorded action. Written only by `audit.services.record`; never updated or deleted.

    A database trigger rejects UPDATE, DELETE and TRUNCATE (migration 0002). `hash` covers every
    other field and `prev_hash`; see `audit.chain` for the canonical serialisation. `signature`
    (an HMAC under a key outside the database) shows the application wrote it.
    """

    sequence = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=True,
    )
    actor_label = models.CharField(max_length=150, help_text="user name, or 'system'")
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # `prev_hash` is unique by a constraint (see Meta), so the database refuses a fork. In the
    # "C" collation: hex digits compare byte by byte, and the index (random keys, paid on every
    # entry written) costs less. `hash` needs no index of its own: it covers the sequence,
    # which is unique, so two entries cannot share one unless forged, and a forged hash fails
    # verification.
    prev_hash = models.CharField(max_length=64, db_collation="C")
    hash = models.CharField(max_length=64)
    # HMAC-SHA256 of `hash` under the key named by `key_id` (audit/chain.py). Empty in the
    # database by default, so an entry written without the application, or before keys
    # existed, is unsigned: verification refuses it (or accepts it only up to
    # AUDIT_UNSIGNED_UNTIL, an installation's entries from before signing began).
    key_id = models.CharField(max_length=16, blank=True, db_default="")
    signature = models.CharField(max_length=64, blank=True, db_default="")

    class Meta:
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["action"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_sequence_gte_1"
            ),
            models.UniqueConstraint(fields=["prev_hash"], name="audit_prev_hash_once"),
        ]

    def __str__(self) -> str:
        target = f"{self.object_type}:{self.object_id}"
        return f"#{self.sequence} {self.action} {target} by {self.actor_label}"
