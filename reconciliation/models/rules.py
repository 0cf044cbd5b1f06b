"""Rule sets: versioned tolerances, bands and limits. Published versions never change."""

from django.conf import settings
from django.db import models


class RuleSet(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RuleSetVersion(models.Model):
    """One version of a rule set: a draft (editable) or published (immutable, in the database)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    definition = models.JSONField()
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rule_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "number"], name="rule_set_version_once"),
            models.UniqueConstraint(
                fields=["rule_set"],
                condition=models.Q(status="draft"),
                name="one_draft_per_rule_set",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft", published_at__isnull=True)
                | models.Q(status="published", published_at__isnull=False),
                name="published_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_set.name} v{self.number} ({self.status})"
