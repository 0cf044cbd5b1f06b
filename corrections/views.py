"""Correction pages: the approvals queue (filters, keyboard, bulk approve), one correction and
its actions, and proposing a correction of a break.

Thin doors: each parses the request, checks the capability, calls one selector or service and
renders. A refusal (a domain error) is shown as a message or on the form; nothing changed.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from accounts.access import has_capability, requires_capability
from config.errors import DomainError, add_to_form, status_for
from config.query import is_id
from corrections import jobs, selectors, services
from corrections.models import Correction
from reconciliation.breaks import selectors as break_selectors

PAGE = 50
SEVERITIES = selectors.SEVERITIES


def _query(filters) -> str:
    values = {name: filters.data[name] for name in selectors.FILTERS}
    return urlencode({name: value for name, value in values.items() if value})


@requires_capability("view_corrections")
def queue(request):
    filters = selectors.form(request.GET, default_status=selectors.QUEUE_STATUS)
    context = {
        "filters": filters,
        "params": filters.data,
        "query": _query(filters),
        "severities": SEVERITIES,
        "statuses": Correction.Status.values,
        "types": selectors.TYPES,
        "can_approve": has_capability(request.user, "approve_corrections"),
        "currency": settings.REPORTING_CURRENCY,
    }
    if not filters.is_valid():
        context["filter_errors"] = [
            {"name": name, "label": filters[name].label or name, "value": filters.data[name],
             "problems": problems}
            for name, problems in filters.errors.items()
        ]  # fmt: skip
        return render(request, "corrections/queue.html", context, status=400)
    page, next_after = selectors.correction_page(filters.cleaned_data, size=PAGE, user=request.user)
    context |= {
        "corrections": page,
        "next_after": next_after,
        "approvable": selectors.approvable_ids(request.user, page),
    }
    return render(request, "corrections/queue.html", context)


def _back(request, fallback: str, **kwargs):
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return redirect(target) if target and safe else redirect(fallback, **kwargs)


@requires_capability("approve_corrections")
@require_POST
def bulk_approve(request):
    ids = request.POST.getlist("ids")
    bad = [value for value in ids if not is_id(value)]
    if bad or not ids:
        messages.error(request, "Choose the corrections to approve." if not ids else
                       f"These are not correction ids: {', '.join(bad)}.")  # fmt: skip
        return _back(request, "corrections:queue")
    chosen = selectors.by_ids([int(v) for v in ids])
    missing = sorted({int(v) for v in ids} - {c.pk for c in chosen})
    try:
        if missing:
            raise services.CorrectionRefused(
                f"Nothing was approved: no correction {', '.join(map(str, missing))}."
            )
        approved = services.approve_many(chosen, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        done = sum(1 for c in approved if c.status == Correction.Status.APPROVED)
        messages.success(
            request,
            f"{len(approved)} approval{'s' if len(approved) != 1 else ''} recorded; "
            f"{done} correction{'s' if done != 1 else ''} now approved.",
        )
    return _back(request, "corrections:queue")


@requires_capability("view_corrections")
def detail(request, correction_id: int):
    correction = selectors.access_correction(request.user, correction_id)
    context = {
        "correction": correction,
        "approvals": selectors.approvals(correction),
        "adjustment_sets": selectors.adjustment_sets(correction),
        "history": selectors.history(correction),
        "allowed": selectors.allowed(request.user, correction),
        "currency": correction.reporting_currency or settings.REPORTING_CURRENCY,
    }
    return render(request, "corrections/correction.html", context)


def _act(request, correction_id: int, doing: str, call):
    correction = selectors.access_correction(request.user, correction_id)
    try:
        correction = call(correction)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Correction {correction.pk} {doing}: it is now "
                                  f"{correction.get_status_display().lower()}.")  # fmt: skip
    return _back(request, "corrections:detail", correction_id=correction.pk)


@requires_capability("approve_corrections")
@require_POST
def approve(request, correction_id: int):
    return _act(request, correction_id, "approved by you",
                lambda c: services.approve(c, by=request.user))  # fmt: skip


@requires_capability("approve_corrections")
@require_POST
def reject(request, correction_id: int):
    reason = request.POST.get("reason", "")
    return _act(request, correction_id, "rejected",
                lambda c: services.reject(c, by=request.user, reason=reason))  # fmt: skip


@requires_capability("approve_corrections")
@require_POST
def apply(request, correction_id: int):
    return _act(request, correction_id, "applied",
                lambda c: services.apply(c, by=request.user))  # fmt: skip


@requires_capability("approve_corrections")
@require_POST
def roll_back(request, correction_id: int):
    reason = request.POST.get("reason", "")
    return _act(request, correction_id, "rolled back",
                lambda c: services.roll_back(c, by=request.user, reason=reason))  # fmt: skip


class ProposeForm(forms.Form):
    corrected_value = forms.DecimalField(
        required=False, max_digits=38, decimal_places=18, label="Corrected value",
        help_text="empty: the break's suggested value",
    )  # fmt: skip
    corrected_text = forms.CharField(
        required=False, max_length=100, label="Corrected text",
        help_text="for a side, a time or a fee asset",
    )  # fmt: skip
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@requires_capability("propose_corrections")
def propose(request, break_id: int):
    """The proposal form of one break (also shown on the break's page), and its answer."""
    item = break_selectors.access_break(request.user, break_id)
    if request.method != "POST":
        form = ProposeForm(initial={"corrected_value": item.suggested_value})
        return render(request, "corrections/propose.html", {"item": item, "form": form})
    form = ProposeForm(request.POST)
    status = 400
    if form.is_valid():
        values = form.cleaned_data
        try:
            correction = services.propose(
                item, by=request.user, reason=values["reason"],
                corrected_value=values["corrected_value"],
                corrected_text=values["corrected_text"],
            )  # fmt: skip
        except DomainError as exc:
            add_to_form(form, exc)
            status = status_for(exc)
        else:
            messages.success(request, f"Correction {correction.pk} proposed: it is "
                                      f"{correction.get_status_display().lower()}.")  # fmt: skip
            return redirect("corrections:detail", correction_id=correction.pk)
    return render(request, "corrections/propose.html", {"item": item, "form": form}, status=status)


def _act_on_run(request, run_id: int, call, done: str):
    run = selectors.access_run(request.user, run_id)
    try:
        count = call(run)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} correction{'s' if count != 1 else ''} of run "
                                  f"{run.pk} {done}.")  # fmt: skip
    return redirect("runs:detail", run_id=run.pk)


@requires_capability("approve_corrections")
@require_POST
def run_apply(request, run_id: int):
    return _act_on_run(request, run_id, lambda run: services.apply_run(run, by=request.user),
                       "applied")  # fmt: skip


@requires_capability("approve_corrections")
@require_POST
def run_roll_back(request, run_id: int):
    reason = request.POST.get("reason", "")
    return _act_on_run(
        request, run_id,
        lambda run: services.roll_back_run(run, by=request.user, reason=reason), "rolled back",
    )  # fmt: skip


@requires_capability("propose_corrections")
@require_POST
def run_propose_again(request, run_id: int):
    run = selectors.access_run(request.user, run_id)
    try:
        jobs.retry(run.pk, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Run {run.pk}'s automatic corrections are queued again.")
    return redirect("runs:detail", run_id=run.pk)
