"""Rule set versions: drafts are edited and validated; publishing freezes them (SPEC 2.2)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status

from audit import services as audit
from config.errors import DomainError
from reconciliation.engine import rule_definition
from reconciliation.models import RuleSet, RuleSetVersion


class RuleSetInvalid(DomainError):
    code = "rule_set_invalid"


class DraftExists(DomainError):
    code = "draft_exists"
    http_status = status.HTTP_409_CONFLICT


class VersionNotDraft(DomainError):
    code = "version_not_draft"
    http_status = status.HTTP_409_CONFLICT


def check(definition: dict) -> rule_definition.RuleDefinition:
    """The validated definition, or RuleSetInvalid with an error list per field path."""
    try:
        return rule_definition.validate(definition)
    except rule_definition.DefinitionInvalid as exc:
        raise RuleSetInvalid(
            "The rule set has errors; nothing was saved.", fields=exc.errors
        ) from exc


def latest_published(rule_set: RuleSet) -> RuleSetVersion | None:
    return rule_set.versions.filter(status="published").order_by("-number").first()


def create_rule_set(*, name: str, description: str = "", by) -> RuleSetVersion:
    """A new rule set with a first draft holding the default definition."""
    name = name.strip()
    if not name:
        raise RuleSetInvalid("A rule set needs a name.", fields={"name": ["is required"]})
    if RuleSet.objects.filter(name=name).exists():
        raise RuleSetInvalid("That name is taken.", fields={"name": ["already exists"]})
    with transaction.atomic():
        rule_set = RuleSet.objects.create(name=name, description=description)
        audit.record(
            action="rule_set.created",
            actor=by,
            object_type="rule_set",
            object_id=rule_set.pk,
            after={"name": name},
        )
        return _new_draft(rule_set, rule_definition.DEFAULT, by=by)


def start_draft(rule_set: RuleSet, *, by, base: RuleSetVersion | None = None) -> RuleSetVersion:
    """A new draft, copied from `base` or the latest published version."""
    base = base or latest_published(rule_set)
    definition = base.definition if base else rule_definition.DEFAULT
    with transaction.atomic():
        RuleSet.objects.select_for_update().filter(pk=rule_set.pk).first()
        if rule_set.versions.filter(status="draft").exists():
            raise DraftExists(f"{rule_set.name} already has a draft: edit or discard it first.")
        return _new_draft(rule_set, definition, by=by)


def _new_draft(rule_set: RuleSet, definition: dict, *, by) -> RuleSetVersion:
    number = (rule_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = RuleSetVersion.objects.create(
        rule_set=rule_set,
        number=number,
        definition=definition,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    audit.record(
        action="rule_set.draft_started",
        actor=by,
        object_type="rule_set_version",
        object_id=version.pk,
        after={"rule_set": rule_set.name, "number": number},
    )
    return version


def update_draft(
    version: RuleSetVersion, *, definition: dict, notes: str = "", by
) -> RuleSetVersion:
    """Replace a draft's definition (validated first); audited with the changed fields."""
    check(definition)
    with transaction.atomic():
        current = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
        if current.status != RuleSetVersion.Status.DRAFT:
            raise VersionNotDraft(f"Version {current.number} is published and cannot change.")
        changes = rule_definition.diff(current.definition, definition)
        RuleSetVersion.objects.filter(pk=version.pk, status="draft").update(
            definition=definition, notes=notes
        )
        audit.record(
            action="rule_set.draft_edited",
            actor=by,
            object_type="rule_set_version",
            object_id=version.pk,
            before={"notes": current.notes},
            after={"changes": changes, "notes": notes},
        )
    version.refresh_from_db()
    return version


def publish(version: RuleSetVersion, *, by) -> RuleSetVersion:
    """Freeze a draft; from now on the database refuses any change to it."""
    check(version.definition)
    with transaction.atomic():
        updated = RuleSetVersion.objects.filter(pk=version.pk, status="draft").update(
            status="published",
            published_at=timezone.now(),
            published_by=by if getattr(by, "is_authenticated", False) else None,
        )
        if updated != 1:
            raise VersionNotDraft(f"Version {version.number} is not a draft.")
        audit.record(
            action="rule_set.published",
            actor=by,
            object_type="rule_set_version",
            object_id=version.pk,
            after={"rule_set": version.rule_set.name, "number": version.number},
        )
    version.refresh_from_db()
    return version


def discard_draft(version: RuleSetVersion, *, by) -> None:
    with transaction.atomic():
        deleted, _ = RuleSetVersion.objects.filter(pk=version.pk, status="draft").delete()
        if deleted != 1:
            raise VersionNotDraft(f"Version {version.number} is not a draft.")
        audit.record(
            action="rule_set.draft_discarded",
            actor=by,
            object_type="rule_set_version",
            object_id=version.pk,
            before={"number": version.number},
        )


def compare(old: RuleSetVersion, new: RuleSetVersion) -> list[dict]:
    """Side-by-side differences of two versions: [{path, old, new}]."""
    return rule_definition.diff(old.definition, new.definition)
