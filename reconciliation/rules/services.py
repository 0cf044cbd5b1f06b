"""Rule set versions: drafts are edited and validated; publishing freezes them (SPEC 2.2)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit import services as audit
from config.errors import DomainError
from reconciliation import selectors
from reconciliation.engine import rule_definition
from reconciliation.models import RuleSet, RuleSetVersion


class RuleSetInvalid(DomainError):
    code = "rule_set_invalid"


class DraftExists(DomainError):
    code = "draft_exists"


class VersionNotDraft(DomainError):
    code = "version_not_draft"


class DraftChanged(DomainError):
    """The stored draft is not the one the editor was looking at: someone else changed it."""

    code = "draft_changed"


NAME_MAX_LENGTH = RuleSet._meta.get_field("name").max_length


def check(definition: dict) -> rule_definition.RuleDefinition:
    """The validated definition, or RuleSetInvalid with an error list per field path."""
    try:
        checked = rule_definition.validate(definition)
    except rule_definition.DefinitionInvalid as exc:
        raise RuleSetInvalid(
            "The rule set has errors; nothing was saved.", fields=exc.errors
        ) from exc
    # PostgreSQL's jsonb cannot hold a NUL character; refuse it here rather than fail at the write.
    if _holds_nul(definition):
        raise RuleSetInvalid(
            "The rule set has errors; nothing was saved.",
            fields={"definition": ["contains a NUL character (\\u0000)"]},
        )
    return checked


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def fingerprint(version: RuleSetVersion) -> str:
    """What an editor saw of a draft (definition and notes), to detect a change made meanwhile."""
    content = json.dumps(
        {"definition": version.definition, "notes": version.notes},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _plain_text(value: str, field: str, *, max_length: int | None = None) -> str:
    """Refuse text PostgreSQL cannot store (NUL) or that does not fit, naming the field."""
    if "\x00" in value:
        raise RuleSetInvalid(
            f"The {field} contains a NUL character.", fields={field: ["contains a NUL character"]}
        )
    if max_length is not None and len(value) > max_length:
        raise RuleSetInvalid(
            f"The {field} is too long ({len(value)} characters, at most {max_length}).",
            fields={field: [f"at most {max_length} characters"]},
        )
    return value


def create_rule_set(*, name: str, description: str = "", by) -> RuleSetVersion:
    """A new rule set with a first draft holding the default definition."""
    name = _plain_text(name.strip(), "name", max_length=NAME_MAX_LENGTH)
    description = _plain_text(description, "description")
    if not name:
        raise RuleSetInvalid("A rule set needs a name.", fields={"name": ["is required"]})
    if RuleSet.objects.filter(name=name).exists():
        raise _name_taken(name)
    try:
        with transaction.atomic():
            return _create(name, description, by=by)
    except IntegrityError as exc:
        # Someone took the name between the check and the insert.
        if RuleSet.objects.filter(name=name).exists():
            raise _name_taken(name) from exc
        raise


def _name_taken(name: str) -> RuleSetInvalid:
    return RuleSetInvalid(
        f"A rule set named {name!r} already exists.", fields={"name": ["already exists"]}
    )


def _create(name: str, description: str, *, by) -> RuleSetVersion:
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
    base = base or selectors.latest_published(rule_set)
    definition = base.definition if base else rule_definition.DEFAULT
    with transaction.atomic():
        RuleSet.objects.select_for_update().filter(pk=rule_set.pk).first()
        existing = current_draft(rule_set)
        if existing is not None:
            raise DraftExists(
                f"{rule_set.name} already has a draft (v{existing.number}): "
                "edit or discard it first.",
                fields={"draft": [str(existing.pk)]},
            )
        return _new_draft(rule_set, definition, by=by)


def current_draft(rule_set: RuleSet) -> RuleSetVersion | None:
    return rule_set.versions.filter(status="draft").first()


def _new_draft(rule_set: RuleSet, definition: dict, *, by) -> RuleSetVersion:
    number = (rule_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = RuleSetVersion.objects.create(
        rule_set=rule_set,
        number=number,
        definition=definition,
        created_by=audit.acting_user(by),
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
    version: RuleSetVersion,
    *,
    definition: dict,
    notes: str | None = None,
    seen: str | None = None,
    by,
) -> RuleSetVersion:
    """Replace a draft's definition (validated first); audited with the changed fields.

    `notes=None` keeps the stored notes. `seen` is the `fingerprint` of the draft the editor
    started from: when given and the stored draft differs, nothing is saved (DraftChanged).
    """
    check(definition)
    with transaction.atomic():
        current = _locked_draft(version, seen=seen)
        _save(current, definition=definition, notes=notes, by=by)
    version.refresh_from_db()
    return version


def publish(
    version: RuleSetVersion,
    *,
    by,
    definition: dict | None = None,
    notes: str | None = None,
    seen: str | None = None,
) -> RuleSetVersion:
    """Freeze a draft; from now on the database refuses any change to it.

    With `definition` (the editor's text as shown when Publish was pressed) the draft is saved
    first, through the same validation as a save, in the same transaction: what is published is
    what the editor saw. With `seen`, a draft changed by someone else meanwhile is not published.
    """
    if definition is not None:
        check(definition)
    with transaction.atomic():
        current = _locked_draft(version, seen=seen)
        if definition is not None:
            _save(current, definition=definition, notes=notes, by=by)
        check(current.definition)
        RuleSetVersion.objects.filter(pk=version.pk, status="draft").update(
            status="published",
            published_at=timezone.now(),
            published_by=audit.acting_user(by),
        )
        audit.record(
            action="rule_set.published",
            actor=by,
            object_type="rule_set_version",
            object_id=version.pk,
            after={"rule_set": version.rule_set.name, "number": version.number},
        )
    version.refresh_from_db()
    return version


def _locked_draft(version: RuleSetVersion, *, seen: str | None) -> RuleSetVersion:
    """The stored draft, locked for the change; refused if published or changed since `seen`."""
    current = RuleSetVersion.objects.select_for_update().filter(pk=version.pk).first()
    if current is None or current.status != RuleSetVersion.Status.DRAFT:
        state = "was discarded" if current is None else "is published and cannot change"
        raise VersionNotDraft(f"Version {version.number} {state}.")
    if seen is not None and seen != fingerprint(current):
        raise DraftChanged(
            f"Someone changed draft v{current.number} after you opened it; nothing was saved "
            "or published. Your text is kept: compare it with the stored draft, then save or "
            "publish again to replace theirs."
        )
    return current


def _save(current: RuleSetVersion, *, definition: dict, notes: str | None, by) -> None:
    """Write a locked draft's new content and audit the changed fields (nothing if unchanged)."""
    notes = current.notes if notes is None else _plain_text(notes, "notes")
    if definition == current.definition and notes == current.notes:
        return
    changes = rule_definition.diff(current.definition, definition)
    RuleSetVersion.objects.filter(pk=current.pk, status="draft").update(
        definition=definition, notes=notes
    )
    audit.record(
        action="rule_set.draft_edited",
        actor=by,
        object_type="rule_set_version",
        object_id=current.pk,
        before={"notes": current.notes},
        after={"changes": changes, "notes": notes},
    )
    current.definition, current.notes = definition, notes


def discard_draft(version: RuleSetVersion, *, by) -> None:
    with transaction.atomic():
        deleted, _ = RuleSetVersion.objects.filter(pk=version.pk, status="draft").delete()
        if deleted != 1:
            raise VersionNotDraft(f"Version {version.number} is published and cannot be discarded.")
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


@dataclass(frozen=True)
class ShownDraft:
    """What the editor had on the page when they pressed Save or Publish."""

    text: str
    notes: str
    seen: str | None
    definition: dict | None = None
    errors: dict = field(default_factory=dict)

    def refused(self, errors: dict) -> ShownDraft:
        return replace(self, errors=errors)


def read_draft(text: str, *, notes: str, seen: str | None) -> ShownDraft:
    """The editor's draft as typed: its definition parsed, or why the JSON cannot be read."""
    shown = ShownDraft(text=text, notes=notes, seen=seen)
    try:
        return replace(shown, definition=json.loads(text))
    except json.JSONDecodeError as exc:
        return shown.refused({"JSON": [f"{exc.msg} (line {exc.lineno}, column {exc.colno})"]})
    except RecursionError:
        return shown.refused({"JSON": ["is nested too deeply"]})
