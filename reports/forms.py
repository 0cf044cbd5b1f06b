"""The reports pages' forms: generating reports, and editing a report pack."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from reports import selectors
from reports.models import FORMAT_CHOICES, ReportPack
from reports.selectors import SEVERITIES, TYPES

BLANK = [("", "any")]


class ScopeFilters(forms.Form):
    type = forms.ChoiceField(choices=BLANK + [(t, t) for t in TYPES], required=False)
    source = forms.ChoiceField(required=False, help_text="the runs where it is either side")
    account = forms.CharField(
        max_length=100, required=False, help_text="an account code, e.g. main"
    )
    severity = forms.ChoiceField(
        choices=BLANK + [(s, s) for s in reversed(SEVERITIES)],
        required=False,
        help_text="of the breaks shown",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = BLANK + [(c, c) for c in selectors.source_codes()]

    def scope_filters(self) -> dict:
        return {
            name: self.cleaned_data.get(name) or ""
            for name in ("type", "source", "account", "severity")
        }


class GenerateForm(ScopeFilters):
    scope = forms.ChoiceField(
        choices=[("run", "One run"), ("period", "A period")],
        initial="run",
        widget=forms.RadioSelect,
    )
    run = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, help_text="a succeeded run (the latest 200)"
    )
    period_from = forms.DateField(
        required=False,
        label="From (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    period_to = forms.DateField(
        required=False,
        label="To (UTC, inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    formats = forms.MultipleChoiceField(
        choices=FORMAT_CHOICES,
        initial=["pdf", "xlsx"],
        widget=forms.CheckboxSelectMultiple,
        help_text="one report is built per format",
    )

    field_order = [
        "scope",
        "run",
        "period_from",
        "period_to",
        "type",
        "source",
        "account",
        "severity",
        "formats",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        runs = selectors.reportable_runs()
        self.fields["run"].choices = [("", "choose a run")] + [
            (run.pk, f"run {run.pk} ({run.type}), finished {run.finished_at:%Y-%m-%d %H:%M}")
            for run in runs
        ]
        today = timezone.now().date()
        self.fields["period_from"].initial = today - timedelta(days=6)
        self.fields["period_to"].initial = today

    def clean(self):
        data = super().clean()
        if data.get("scope") == "run" and not data.get("run"):
            self.add_error("run", "Choose the run to report.")
        if data.get("scope") == "period":
            for name in ("period_from", "period_to"):
                if not data.get(name):
                    self.add_error(name, "Give the period's first and last day.")
        return data


class PackForm(ScopeFilters):
    name = forms.CharField(max_length=100)
    formats = forms.MultipleChoiceField(
        choices=FORMAT_CHOICES, initial=["pdf", "xlsx"], widget=forms.CheckboxSelectMultiple
    )
    period = forms.ChoiceField(
        choices=ReportPack.Period.choices, initial=ReportPack.Period.PREVIOUS_DAY
    )
    recipients = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="e-mail addresses, one per line or separated by commas",
    )
    cron = forms.CharField(
        max_length=100,
        label="When (cron, UTC)",
        initial="0 6 * * *",
        help_text="five fields: minute hour day-of-month month weekday, e.g. '0 6 * * *' every "
        "day at 06:00, '0 6 * * 1' Mondays at 06:00",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    field_order = [
        "name",
        "formats",
        "period",
        "type",
        "source",
        "account",
        "severity",
        "recipients",
        "cron",
        "enabled",
    ]

    def recipient_list(self) -> list[str]:
        text = self.cleaned_data.get("recipients", "")
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def pack_initial(pack: ReportPack) -> dict:
    return {
        "name": pack.name,
        "formats": pack.formats,
        "period": pack.period,
        "recipients": "\n".join(pack.recipients),
        "cron": pack.cron,
        "enabled": pack.enabled,
        **pack.filters,
    }
