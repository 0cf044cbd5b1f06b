"""Break pages: the list (filters, keyset pages, bulk actions, export) and the detail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from accounts.access import has_capability, requires_capability
from audit import selectors as audit_selectors
from config.errors import status_for
from reconciliation import selectors
from reconciliation.breaks import evidence as break_evidence
from reconciliation.breaks import export as break_export
from reconciliation.breaks import filters as break_filters
from reconciliation.breaks import selectors as break_selectors
from reconciliation.breaks import workflow as break_workflow
from reconciliation.breaks.filters import BreakFilters
from reconciliation.export import csv_pieces
from reconciliation.models import Break

PAGE = 50


def _query(filters: BreakFilters) -> str:
    """The view's filters and sort as a query string, encoded (a search may hold & or #)."""
    values = {name: filters.data[name] for name in (*break_filters.FILTERS, "sort")}
    return urlencode({name: value for name, value in values.items() if value})


@requires_capability("view_breaks")
def break_list(request):
    filters = break_filters.form(request.GET)
    context = {
        "filters": filters,
        "params": filters.data,
        "query": _query(filters),
        "types": selectors.run_types(),
        "severities": break_filters.SEVERITIES,
        "statuses": Break.Status.values,
        "can_work": has_capability(request.user, "work_breaks"),
        "currency": settings.REPORTING_CURRENCY,
    }
    if not filters.is_valid():
        context["filter_errors"] = [
            {"name": name, "label": filters[name].label, "value": filters.data[name],
             "problems": problems}
            for name, problems in filters.errors.items()
        ]  # fmt: skip
        # The list is not shown at all: a list filtered otherwise than asked would mislead.
        return render(request, "reconciliation/breaks.html", context, status=400)
    page, next_after = break_selectors.break_page(filters.cleaned_data, size=PAGE)
    context |= {"breaks": page, "next_after": next_after, "workers": break_selectors.workers()}
    return render(request, "reconciliation/breaks.html", context)


@requires_capability("view_breaks")
def break_export_csv(request):
    try:
        filters = break_filters.read(request.GET)
    except break_filters.BreakFiltersInvalid as exc:
        body = {"code": exc.code, "message": exc.message, "fields": exc.fields}
        return JsonResponse(body, status=status_for(exc))
    breaks = break_selectors.sorted_breaks(filters)
    count = breaks.count()  # first: the header goes before the rows (as counted at the start)
    pieces = csv_pieces(break_export.breaks(breaks), break_export.FIELDS)
    # Streamed, not built in memory first: a large export starts at once and is never cut by
    # the web server's timeout (config/gunicorn.py).
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="breaks.csv"'
    response["X-Row-Count"] = str(count)
    return response


@requires_capability("work_breaks")
@require_POST
def bulk(request):
    try:
        ids, assignee_id = break_workflow.read_targets(
            request.POST.getlist("ids"), request.POST.get("assignee", "")
        )
        count = break_workflow.apply(
            request.POST.get("action", ""), ids, by=request.user,
            reason=request.POST.get("reason", ""), assignee_id=assignee_id,
        )  # fmt: skip
    except break_workflow.BreakActionRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{count} break{'s' if count != 1 else ''} updated.")
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return redirect(target if target and safe else "breaks:list")


@requires_capability("view_breaks")
def break_detail(request, break_id: int):
    item = break_selectors.access_break(request.user, break_id)
    observations = break_selectors.observations(item)
    context = {
        "item": item,
        "observations": observations,
        "comments": break_selectors.comments(item),
        "history": audit_selectors.events(object_type="break", object_id=str(item.pk))[:50],
        "can_work": has_capability(request.user, "work_breaks"),
        "started": break_evidence.where_it_started(item),
        "trade_ids": break_evidence.of_break(item),
        "cause_names": break_evidence.cause_names(item),
        "evidence": break_evidence.shown_facts(item),
        "workers": break_selectors.workers(),
    }
    return render(request, "reconciliation/break.html", context)


@requires_capability("work_breaks")
@require_POST
def add_comment(request, break_id: int):
    item = break_selectors.access_break(request.user, break_id)
    try:
        break_workflow.comment(item.pk, text=request.POST.get("text", ""), by=request.user)
    except break_workflow.BreakActionRefused as exc:
        messages.error(request, exc.message)
    return redirect("breaks:detail", break_id=item.pk)
