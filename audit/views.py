"""The audit log page and its chain verification (admins)."""

from django.shortcuts import render

from accounts.access import requires_capability
from audit import selectors
from config.query import is_id

PAGE_SIZE = 50


@requires_capability("view_audit")
def log(request):
    filters = {
        name: request.GET.get(name, "").strip()
        for name in ("action", "actor", "object_type", "object_id")
    }
    events = selectors.events(**filters)
    before = request.GET.get("before", "")
    if is_id(before):
        events = events.filter(sequence__lt=int(before))
    page = list(events[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].sequence if len(page) > PAGE_SIZE else None
    context = {"events": page[:PAGE_SIZE], "filters": filters, "older": older}
    return render(request, "audit/log.html", context)


@requires_capability("view_audit")
def verify(request):
    report = selectors.verify_chain()
    template = "audit/_verify.html" if request.headers.get("HX-Request") else "audit/verify.html"
    return render(request, template, {"report": report}, status=200 if report.ok else 409)
