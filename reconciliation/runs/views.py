"""Run pages: start a run, watch its progress live (htmx), cancel it."""

from __future__ import annotations

from django import forms
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import has_capability, render_no_access, requires_capability
from config.errors import add_to_form
from reconciliation import selectors
from reconciliation.export import csv_pieces
from reconciliation.models import Dataset, RuleSetVersion
from reconciliation.runs import export as match_export
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs
from reconciliation.runs.selectors import access_run, iter_matches


class DatasetSelect(forms.Select):
    """A select whose options say which run types each dataset fits (static/js/run_form.js)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.types_of: dict[int, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        pk = getattr(value, "value", value)
        if pk in self.types_of:
            option["attrs"]["data-types"] = self.types_of[pk]
        return option


def dataset_label(dataset: Dataset) -> str:
    where = dataset.account or dataset.source
    name = dataset.original_name or dataset.format
    return f"#{dataset.pk} {dataset.kind} · {where} · as of {dataset.as_of:%Y-%m-%d %H:%M} · {name}"


def _side_choices(side: str, type_: str | None) -> tuple[list, dict[int, str]]:
    """The side's datasets grouped by kind, and the types each fits (all types: no type)."""
    groups: dict[str, list] = {}
    types_of: dict[int, str] = {}
    for dataset in run_inputs.fitting_datasets(type_, side):
        groups.setdefault(dataset.kind, []).append((dataset.pk, dataset_label(dataset)))
        types_of[dataset.pk] = " ".join(run_inputs.types_taking(side, dataset.kind))
    choices = [("", "---------")] + [
        (f"{kind} (for {', '.join(run_inputs.types_taking(side, kind))})", items)
        for kind, items in groups.items()
    ]
    return choices, types_of


class StartRunForm(forms.Form):
    type = forms.ChoiceField(choices=[(t, t) for t in run_inputs.TYPES])
    # Any dataset is accepted here, so that one that does not fit gets the service's message
    # (why it does not fit) rather than "not one of the available choices".
    internal = forms.ModelChoiceField(
        Dataset.objects.select_related("source", "account"),
        widget=DatasetSelect(attrs={"data-fits": ""}), label="Internal dataset (the book)",
        help_text="Datasets of internal sources, of the kinds the type reconciles.",
    )  # fmt: skip
    external = forms.ModelChoiceField(
        Dataset.objects.select_related("source", "account"),
        widget=DatasetSelect(attrs={"data-fits": ""}), label="External dataset (the exchange)",
        help_text="Datasets of exchanges and custodians, of the kinds the type reconciles.",
    )  # fmt: skip
    prices = forms.ModelChoiceField(
        Dataset.objects.filter(kind="prices").select_related("source", "account__source"),
        required=False,
    )
    rule_set_version = forms.ModelChoiceField(
        RuleSetVersion.objects.filter(status="published").select_related("rule_set"),
        required=False, help_text="Empty: the latest published version of the default rule set.",
    )  # fmt: skip

    def __init__(self, *args, type_: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for side in run_inputs.SIDES:
            choices, types_of = _side_choices(side, type_)
            self.fields[side].widget.choices = choices
            self.fields[side].widget.types_of = types_of
        prices = self.fields["prices"]
        prices.label_from_instance = dataset_label
        # Preselected is the empty choice, which is exactly the service's own choice for the two
        # datasets picked (run_inputs.prices_for): the newest prices dataset overall may start
        # after the run's time and would value nothing.
        prices.empty_label = "The latest prices at the run's time (recommended)"
        if not run_inputs.prices_loaded():
            prices.help_text = (
                "No prices dataset is loaded: breaks in other assets than the reporting "
                "currency will be unvalued (and graded high)."
            )
        else:
            prices.help_text = (
                "Preselected: the latest prices at or before the run's time (the later of the "
                "two datasets' times). Every type values its breaks with them; the run page "
                "says which dataset was used."
            )


@requires_capability("view_breaks")
def run_list(request):
    form = None
    if request.method == "POST" and not has_capability(request.user, "start_runs"):
        return render_no_access(
            request, reason="Your role does not start runs: nothing was started."
        )
    if has_capability(request.user, "start_runs"):
        # A type in the address (?type=trades) lists only the datasets that fit it.
        chosen = request.POST.get("type") or request.GET.get("type")
        form = StartRunForm(request.POST or None, type_=chosen, initial={"type": chosen})
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
            # No "Run N queued." message: the run page's live status says it, and a message
            # would still say "queued" beside "succeeded". The page also names the prices used.
            return redirect("runs:detail", run_id=run.pk)
    recent = selectors.recent_runs()
    return render(request, "reconciliation/runs.html", {"form": form, "runs": recent})


@requires_capability("view_breaks")
def run_detail(request, run_id: int):
    run = access_run(request.user, run_id)
    template = (
        "reconciliation/_run_status.html"
        if request.headers.get("HX-Request")
        else ("reconciliation/run.html")
    )
    context = {"run": run, "can_cancel": has_capability(request.user, "start_runs")}
    return render(request, template, context)


@requires_capability("view_breaks")
def run_matches_csv(request, run_id: int):
    """The run's trade matches as CSV, streamed (a million would not fit in one response)."""
    run = access_run(request.user, run_id)
    rows = map(match_export.match_row, iter_matches(run))
    pieces = csv_pieces(rows, match_export.MATCH_FIELDS)
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-matches.csv"'
    return response


@requires_capability("start_runs")
@require_POST
def cancel(request, run_id: int):
    # No flash message: "stopping" would linger beside "cancelled"; the status box says both.
    run = runs.cancel_run(access_run(request.user, run_id), by=request.user)
    return redirect("runs:detail", run_id=run.pk)
