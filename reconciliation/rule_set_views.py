"""Rule set pages: versions, draft editing with field errors, publishing, comparison."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import has_capability, requires_capability
from audit import selectors as audit_selectors
from reconciliation import preview, rule_sets, selectors
from reconciliation.break_selectors import access_run
from reconciliation.engine.types import TYPES
from reconciliation.models import RuleSet


@requires_capability("view_breaks")
def rule_set_list(request):
    sets = RuleSet.objects.prefetch_related("versions")
    return render(request, "reconciliation/rule_sets.html", {"rule_sets": sets})


@requires_capability("view_breaks")
@require_http_methods(["GET", "POST"])
def version_detail(request, version_id: int):
    version = selectors.access_version(request.user, version_id)
    text, errors = json.dumps(version.definition, indent=2), {}
    if request.method == "POST":
        if not has_capability(request.user, "configure_rules"):
            return redirect("rules:version", version_id=version.pk)
        text = request.POST.get("definition", "")
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            errors = {"JSON": [f"{exc.msg} (line {exc.lineno}, column {exc.colno})"]}
        else:
            try:
                rule_sets.update_draft(
                    version, definition=definition, notes=request.POST.get("notes", ""),
                    by=request.user,
                )  # fmt: skip
            except rule_sets.RuleSetInvalid as exc:
                errors = exc.fields
            else:
                messages.success(request, "Draft saved.")
                return redirect("rules:version", version_id=version.pk)
    others = version.rule_set.versions.exclude(pk=version.pk).order_by("-number")
    replay = None
    run_id = request.GET.get("preview_run", "")
    if run_id.isdigit():
        replay = preview.preview(version, access_run(request.user, run_id))
    context = {
        "version": version,
        "text": text,
        "errors": errors,
        "types": [(name, version.definition.get("types", {}).get(name, {})) for name in TYPES],
        "others": others,
        "can_edit": has_capability(request.user, "configure_rules") and version.status == "draft",
        "history": audit_selectors.events(
            object_type="rule_set_version", object_id=str(version.pk)
        ),
        "replay": replay,
        "recent_runs": preview.latest_runs(),
    }
    return render(
        request, "reconciliation/rule_set_version.html", context, status=422 if errors else 200
    )


@requires_capability("configure_rules")
@require_POST
def publish(request, version_id: int):
    version = rule_sets.publish(selectors.access_version(request.user, version_id), by=request.user)
    messages.success(request, f"Version {version.number} published; it can no longer change.")
    return redirect("rules:version", version_id=version.pk)


@requires_capability("configure_rules")
@require_POST
def start_draft(request, rule_set_id: int):
    rule_set = selectors.access_rule_set(request.user, rule_set_id)
    draft = rule_sets.start_draft(rule_set, by=request.user)
    return redirect("rules:version", version_id=draft.pk)


@requires_capability("configure_rules")
@require_POST
def create(request):
    draft = rule_sets.create_rule_set(
        name=request.POST.get("name", ""), description=request.POST.get("description", ""),
        by=request.user,
    )  # fmt: skip
    return redirect("rules:version", version_id=draft.pk)


@requires_capability("configure_rules")
@require_POST
def discard(request, version_id: int):
    version = selectors.access_version(request.user, version_id)
    rule_sets.discard_draft(version, by=request.user)
    messages.success(request, f"Draft {version.number} discarded.")
    return redirect("rules:list")


@requires_capability("view_breaks")
def compare(request):
    old = selectors.access_version(request.user, request.GET.get("old", ""))
    new = selectors.access_version(request.user, request.GET.get("new", ""))
    context = {"old": old, "new": new, "changes": rule_sets.compare(old, new)}
    return render(request, "reconciliation/rule_set_compare.html", context)
