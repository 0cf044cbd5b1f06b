"""Schedule pages: periodic runs created, edited, paused and deleted by admins."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import has_capability, render_no_access, requires_capability
from config.errors import add_to_form
from reconciliation import selectors
from reconciliation.models import Account, RuleSet, Schedule, Source
from reconciliation.runs import inputs as run_inputs
from reconciliation.schedules import selectors as schedule_selectors
from reconciliation.schedules import services as schedules


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=100)
    type = forms.ChoiceField(choices=[(t, t) for t in run_inputs.TYPES])
    # Any account is accepted here, so that one that does not fit gets the service's reason;
    # only the fitting ones are offered.
    internal_account = forms.ModelChoiceField(
        Account.objects.select_related("source"), label="Internal account (the book)",
        help_text="Accounts of internal sources.",
    )  # fmt: skip
    external_account = forms.ModelChoiceField(
        Account.objects.select_related("source"), label="External account (the exchange)",
        help_text="Accounts of exchanges and custodians.",
    )  # fmt: skip
    prices_source = forms.ModelChoiceField(
        Source.objects.all(), required=False,
        help_text="Its latest prices are used; empty: the latest prices dataset at the run's time.",
    )  # fmt: skip
    rule_set = forms.ModelChoiceField(
        RuleSet.objects.all(), to_field_name="name",
        help_text="Its latest published version is used.",
    )  # fmt: skip
    cron = forms.CharField(
        label="When (cron, UTC)", initial=schedules.PRESETS["hourly"],
        help_text="Five fields: minute hour day-of-month month weekday (0 = Sunday), e.g. "
        "'0 * * * *' every hour, '0 6 * * *' every day at 06:00, '0 6 * * 1-5' weekdays at "
        "06:00. Day of month and weekday must both match.",
        widget=forms.TextInput(attrs={
            "hx-get": reverse_lazy("schedules:timing"), "hx-trigger": "input changed delay:300ms",
            "hx-target": "#cron-timing", "autocomplete": "off",
        }),
    )  # fmt: skip
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for side in run_inputs.SIDES:
            self.fields[f"{side}_account"].choices = [("", "---------")] + [
                (account.pk, str(account)) for account in run_inputs.fitting_accounts(side)
            ]
        self.fields["prices_source"].choices = [("", "---------")] + [
            (source.pk, str(source)) for source in selectors.price_feeds()
        ]
        # Any rule set is accepted, so that an unpublished one gets the service's reason and
        # where to publish it; only those with a published version are offered.
        published = selectors.published_rule_sets()
        self.fields["rule_set"].choices = [("", "---------")] + [
            (rule_set.name, rule_set.name) for rule_set in published
        ]
        if len(published) == 1:
            self.initial.setdefault("rule_set", published[0].name)


def _initial(schedule: Schedule) -> dict:
    return {
        "name": schedule.name, "type": schedule.type,
        "internal_account": schedule.internal_account, "external_account":
        schedule.external_account, "prices_source": schedule.prices_source,
        "rule_set": schedule.rule_set, "cron": schedule.cron, "enabled": schedule.enabled,
    }  # fmt: skip


@requires_capability("view_breaks")
@require_http_methods(["GET", "POST"])
def schedule_list(request, schedule_id: int | None = None):
    editing = get_object_or_404(Schedule, pk=schedule_id) if schedule_id else None
    can_manage = has_capability(request.user, "manage_schedules")
    if request.method == "POST" and not can_manage:
        return render_no_access(
            request, reason="Your role does not manage schedules: nothing was saved."
        )
    form = None
    if can_manage:
        initial = _initial(editing) if editing else None
        form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            schedules.save_schedule(**form.cleaned_data, by=request.user, schedule=editing)
        except schedules.ScheduleInvalid as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("schedules:list")
    items = schedule_selectors.listed()
    listed = [(item, schedules.describe(item.cron, count=1)) for item in items]
    context = {"schedules": listed, "form": form, "editing": editing}
    if form is not None:
        context["timing"] = schedules.describe(form["cron"].value() or "")
    return render(request, "reconciliation/schedules.html", context)


@requires_capability("view_breaks")
def timing(request):
    """The cron expression in words and its next three times (htmx, beside the field)."""
    shown = schedules.describe(request.GET.get("cron", ""))
    return render(request, "reconciliation/_schedule_timing.html", {"timing": shown})


@requires_capability("manage_schedules")
@require_POST
def toggle(request, schedule_id: int):
    schedule = get_object_or_404(Schedule, pk=schedule_id)
    schedules.set_enabled(schedule, enabled=not schedule.enabled, by=request.user)
    return redirect("schedules:list")


@requires_capability("manage_schedules")
@require_POST
def delete(request, schedule_id: int):
    schedule = get_object_or_404(Schedule, pk=schedule_id)
    schedules.delete_schedule(schedule, by=request.user)
    messages.success(request, f"Schedule {schedule.name} deleted.")
    return redirect("schedules:list")
