"""Run pages: start a run, watch its progress live (htmx), cancel it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import has_capability, requires_capability
from config.errors import add_to_form
from reconciliation import break_export, break_selectors, runs
from reconciliation.break_selectors import access_run
from reconciliation.export import csv_pieces
from reconciliation.models import Dataset, RuleSetVersion, Run


class StartRunForm(forms.Form):
    type = forms.ChoiceField(choices=[(t, t) for t in runs.INPUTS])
    internal = forms.ModelChoiceField(Dataset.objects.select_related("source", "account"),
                                      label="Internal dataset (the book)")  # fmt: skip
    external = forms.ModelChoiceField(Dataset.objects.select_related("source", "account"),
                                      label="External dataset (the exchange)")  # fmt: skip
    prices = forms.ModelChoiceField(
        Dataset.objects.filter(kind="prices"),
        required=False,
        help_text="Needed for valuation; used to value the other types' breaks.",
    )
    rule_set_version = forms.ModelChoiceField(
        RuleSetVersion.objects.filter(status="published").select_related("rule_set"),
        required=False, help_text="Empty: the latest published version of the default rule set.",
    )  # fmt: skip


@requires_capability("view_breaks")
def run_list(request):
    form = (
        StartRunForm(request.POST or None) if has_capability(request.user, "start_runs") else None
    )
    if request.method == "POST" and form is not None and form.is_valid():
        values = form.cleaned_data
        try:
            run = runs.start_run(
                type=values["type"], internal=values["internal"], external=values["external"],
                prices=values["prices"], rule_set_version=values["rule_set_version"],
                by=request.user,
            )  # fmt: skip
        except runs.RunRefused as exc:
            if exc.fields:
                form.add_error(None, exc.message)
            add_to_form(form, exc)
        else:
            messages.success(request, f"Run {run.pk} queued.")
            return redirect("runs:detail", run_id=run.pk)
    recent = Run.objects.select_related("internal_dataset", "external_dataset")[:50]
    return render(request, "reconciliation/runs.html", {"form": form, "runs": recent})


@requires_capability("view_breaks")
def run_detail(request, run_id: int):
    run = access_run(request.user, run_id)
    template = (
        "reconciliation/_run_status.html"
        if request.headers.get("HX-Request")
        else ("reconciliation/run.html")
    )
    polled = template == "reconciliation/_run_status.html"
    context = {
        "run": run,
        "can_cancel": has_capability(request.user, "start_runs"),
        "polled": polled,
    }
    if not polled:
        context["messages"] = _still_true(request, run)
    return render(request, template, context)


def _still_true(request, run: Run) -> list:
    """The flash messages for the run's page, without a start's "queued" once the run finished.

    (The polled status removes them when the run finishes on the page; this is for a run that
    finished before its page was first shown.)
    """
    shown = list(messages.get_messages(request))
    if run.is_active:
        return shown
    return [m for m in shown if m.level != messages.SUCCESS]


@requires_capability("view_breaks")
def run_matches_csv(request, run_id: int):
    """The run's trade matches as CSV, streamed (a million would not fit in one response)."""
    run = access_run(request.user, run_id)
    rows = map(break_export.match_row, break_selectors.iter_matches(run))
    pieces = csv_pieces(rows, break_export.MATCH_FIELDS)
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-matches.csv"'
    return response


@requires_capability("start_runs")
@require_POST
def cancel(request, run_id: int):
    run = runs.cancel_run(access_run(request.user, run_id), by=request.user)
    messages.info(
        request, f"Run {run.pk}: {run.status if not run.cancel_requested else 'stopping'}."
    )
    return redirect("runs:detail", run_id=run.pk)
