"""Rule set pages: versions, draft editing with field errors, publishing, comparison."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import has_capability, render_no_access, requires_capability
from audit import selectors as audit_selectors
from config.errors import DomainError, status_for
from reconciliation import selectors
from reconciliation.rules import preview
from reconciliation.rules import services as rule_sets
from reconciliation.runs.selectors import access_run


@requires_capability("view_breaks")
def rule_set_list(request):
    return _render_list(request)


def _render_list(request, *, refused=None, create=None, status: int = 200):
    """The list of rule sets; `refused` is (rule set, message, its draft) for a refused "New
    draft", `create` the refused "New rule set" form's input and errors (kept, not lost)."""
    sets = selectors.rule_sets()
    context = {"rule_sets": sets, "refused": refused, "create": create or {}}
    return render(request, "reconciliation/rule_sets.html", context, status=status)


@requires_capability("view_breaks")
@require_http_methods(["GET", "POST"])
def version_detail(request, version_id: int):
    version = selectors.access_version(request.user, version_id)
    if request.method == "GET":
        return _render_version(request, version, preview_run=request.GET.get("preview_run", ""))
    if not has_capability(request.user, "configure_rules"):
        # Said, not a silent redirect that looks as if the edit were saved.
        reason = "Only people who may configure rules can edit a draft; nothing was saved."
        return render_no_access(request, reason=reason)
    shown = rule_sets.read_draft(
        request.POST.get("definition", ""),
        notes=request.POST.get("notes", ""),
        seen=request.POST.get("seen") or None,
    )
    if shown.errors:
        return _render_version(request, version, shown=shown, status=422)
    try:
        rule_sets.update_draft(
            version, definition=shown.definition, notes=shown.notes, seen=shown.seen,
            by=request.user,
        )  # fmt: skip
    except rule_sets.RuleSetInvalid as exc:
        return _render_version(request, version, shown=shown.refused(exc.fields), status=422)
    except (rule_sets.DraftChanged, rule_sets.VersionNotDraft) as exc:
        return _render_version(request, version, shown=shown, message=exc.message, status=409)
    messages.success(request, "Draft saved.")
    return redirect("rules:version", version_id=version.pk)


def _shown_draft(request) -> rule_sets.ShownDraft:
    """What the editor had on the page when they pressed Save or Publish, read by the service."""
    return rule_sets.read_draft(
        request.POST.get("definition", ""),
        notes=request.POST.get("notes", ""),
        seen=request.POST.get("seen") or None,
    )


def _render_version(
    request, version, *, shown: rule_sets.ShownDraft | None = None, message: str = "",
    preview_run: str = "", status: int = 200,
):  # fmt: skip
    """The version page. A refused save or publish keeps the editor's text and notes on it."""
    stored = selectors.stored_version(version.pk)
    discarded = stored is None
    version = stored or version
    replay, preview_error = None, ""
    if preview_run:
        try:
            replay = preview.preview(version, access_run(request.user, preview_run))
        except DomainError as exc:
            preview_error, status = exc.message, max(status, status_for(exc))
    can_edit = (
        has_capability(request.user, "configure_rules") and not discarded
        and version.status == "draft"
    )  # fmt: skip
    context = {
        "version": version,
        "discarded": discarded,
        "text": shown.text if shown else json.dumps(version.definition, indent=2),
        "notes": shown.notes if shown else version.notes,
        "kept_unsaved": shown is not None and not can_edit,
        "seen": rule_sets.fingerprint(version),
        "errors": shown.errors if shown else {},
        "message": message,
        "types": [
            (name, version.definition.get("types", {}).get(name, {}))
            for name in selectors.run_types()
        ],
        "others": selectors.other_versions(version),
        "can_edit": can_edit,
        "history": audit_selectors.events(
            object_type="rule_set_version", object_id=str(version.pk)
        ),
        "replay": replay,
        "preview_error": preview_error,
        "preview_run": preview_run,
        "recent_runs": preview.latest_runs(),
    }
    return render(request, "reconciliation/rule_set_version.html", context, status=status)


@requires_capability("configure_rules")
@require_POST
def publish(request, version_id: int):
    """Publish what the editor sees: the shown text is saved first (same checks as Save), and a
    draft someone else changed meanwhile is not published (the form carries what was seen)."""
    version = selectors.access_version(request.user, version_id)
    shown = _shown_draft(request) if "definition" in request.POST else None
    if shown is not None and shown.errors:
        return _render_version(request, version, shown=shown, status=422)
    try:
        version = rule_sets.publish(
            version, by=request.user,
            definition=shown.definition if shown else None,
            notes=shown.notes if shown else None,
            seen=shown.seen if shown else request.POST.get("seen") or None,
        )  # fmt: skip
    except rule_sets.RuleSetInvalid as exc:
        shown = shown or rule_sets.ShownDraft(
            json.dumps(version.definition, indent=2), version.notes, None
        )
        return _render_version(request, version, shown=shown.refused(exc.fields), status=422)
    except (rule_sets.DraftChanged, rule_sets.VersionNotDraft) as exc:
        return _render_version(request, version, shown=shown, message=exc.message, status=409)
    messages.success(request, f"Version {version.number} published; it can no longer change.")
    return redirect("rules:version", version_id=version.pk)


@requires_capability("configure_rules")
@require_POST
def start_draft(request, rule_set_id: int):
    rule_set = selectors.access_rule_set(request.user, rule_set_id)
    try:
        draft = rule_sets.start_draft(rule_set, by=request.user)
    except rule_sets.DraftExists as exc:
        refused = (rule_set, exc.message, rule_sets.current_draft(rule_set))
        return _render_list(request, refused=refused, status=status_for(exc))
    return redirect("rules:version", version_id=draft.pk)


@requires_capability("configure_rules")
@require_POST
def create(request):
    name, description = request.POST.get("name", ""), request.POST.get("description", "")
    try:
        draft = rule_sets.create_rule_set(name=name, description=description, by=request.user)
    except rule_sets.RuleSetInvalid as exc:
        taken = selectors.rule_set_named(name)
        create = {
            # A NUL cannot be stored or shown; the rest of the input is kept.
            "name": name.replace("\x00", ""), "description": description.replace("\x00", ""),
            "message": exc.message,
            "errors": exc.fields, "taken": taken,
            "taken_version": taken and (
                rule_sets.current_draft(taken) or selectors.latest_version(taken)
            ),
        }  # fmt: skip
        return _render_list(request, create=create, status=422)
    return redirect("rules:version", version_id=draft.pk)


@requires_capability("configure_rules")
@require_POST
def discard(request, version_id: int):
    version = selectors.access_version(request.user, version_id)
    try:
        rule_sets.discard_draft(version, by=request.user)
    except rule_sets.VersionNotDraft as exc:
        return _render_version(request, version, message=exc.message, status=status_for(exc))
    messages.success(request, f"Draft {version.number} discarded.")
    return redirect("rules:list")


@requires_capability("view_breaks")
def compare(request):
    old, new = selectors.versions_to_compare(request.user, request.GET.get("old"),
                                             request.GET.get("new"))  # fmt: skip
    context = {"old": old, "new": new, "changes": rule_sets.compare(old, new)}
    return render(request, "reconciliation/rule_set_compare.html", context)
