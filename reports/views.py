"""Reports pages: the list (with the form that generates reports), a report's page with its
progress and history, the download, retrying a failed build, and the report packs."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import has_capability, requires_capability
from audit import selectors as audit_selectors
from config.errors import DomainError, add_to_form, error_page
from config.query import is_id
from reports import packs, selectors, services
from reports.forms import GenerateForm, PackForm, pack_initial
from reports.models import FORMATS, Report
from reports.responses import file_response
from reports.scope import Wanted

PAGE_SIZE = 50


def _list_filters(request) -> dict:
    status = request.GET.get("status", "")
    format_ = request.GET.get("format", "")
    run = request.GET.get("run", "")
    return {
        "status": status if status in Report.Status.values else "",
        "format": format_ if format_ in FORMATS else "",
        "run": int(run) if is_id(run) else None,
    }


@requires_capability("view_reports")
@require_http_methods(["GET", "POST"])
def report_list(request):
    can_generate = has_capability(request.user, "download_reports")
    form = None
    if can_generate:
        initial = {}
        if is_id(request.GET.get("run", "")):
            initial = {"scope": "run", "run": int(request.GET["run"])}
        form = GenerateForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form is None:
            return error_page(request, services.NotAllowed("You may not generate reports."))
        if form.is_valid():
            queued = _generate(request, form)
            if queued:
                return redirect("reports:list")
    filters = _list_filters(request)
    before = request.GET.get("before", "")
    page, older = selectors.report_page(
        filters, before=int(before) if is_id(before) else None, size=PAGE_SIZE
    )
    context = {
        "reports": page,
        "older": older,
        "filters": filters,
        "form": form,
        "can_download": can_generate,
        "statuses": Report.Status.values,
        "formats": FORMATS,
        "any_active": any(r.is_active for r in page),
        "retention_days": settings.REPORT_RETENTION_DAYS,
    }
    template = (
        "reports/pages/_rows.html"
        if request.headers.get("HX-Request")
        else "reports/pages/list.html"
    )
    return render(request, template, context)


def _generate(request, form: GenerateForm) -> list[Report]:
    data = form.cleaned_data
    if data["scope"] == "run":
        wanted = Wanted(run_id=data["run"], filters={"severity": data.get("severity") or ""})
    else:
        wanted = Wanted(
            period_from=data["period_from"],
            period_to=data["period_to"],
            filters=form.scope_filters(),
        )
    queued = []
    try:
        for format_ in data["formats"]:
            queued.append(services.request_report(wanted, format_=format_, by=request.user))
    except DomainError as refused:
        add_to_form(form, refused)
        return []
    names = ", ".join(f"{r.get_format_display()} (report {r.pk})" for r in queued)
    messages.success(
        request, f"Queued: {names}. They are built by a worker; this page shows their progress."
    )
    return queued


@requires_capability("view_reports")
def report_detail(request, report_id: int):
    report = selectors.access_report(request.user, report_id)
    context = {
        "report": report,
        "can_download": has_capability(request.user, "download_reports"),
        "history": audit_selectors.events(object_type="report", object_id=str(report.pk))[:50],
    }
    if request.headers.get("HX-Request"):
        return render(request, "reports/pages/_status.html", context)
    return render(request, "reports/pages/report.html", context)


@requires_capability("download_reports")
def download(request, report_id: int):
    report = selectors.access_report(request.user, report_id)
    found = services.download(report, by=request.user)
    return file_response(found, report.sha256)


@requires_capability("download_reports")
@require_POST
def retry(request, report_id: int):
    report = services.retry_report(
        selectors.access_report(request.user, report_id), by=request.user
    )
    messages.success(request, f"Report {report.pk} is queued again.")
    return redirect("reports:detail", report_id=report.pk)


@requires_capability("view_reports")
@require_http_methods(["GET", "POST"])
def pack_list(request, pack_id: int | None = None):
    editing = selectors.access_pack(request.user, pack_id) if pack_id else None
    can_manage = has_capability(request.user, "download_reports")
    form = None
    if can_manage:
        form = PackForm(request.POST or None, initial=pack_initial(editing) if editing else None)
    if request.method == "POST":
        if form is None:
            return error_page(request, services.NotAllowed("You may not schedule reports."))
        if form.is_valid():
            try:
                packs.save_pack(
                    name=form.cleaned_data["name"],
                    formats=form.cleaned_data["formats"],
                    period=form.cleaned_data["period"],
                    recipients=form.recipient_list(),
                    cron=form.cleaned_data["cron"],
                    filters=form.scope_filters(),
                    enabled=form.cleaned_data["enabled"],
                    by=request.user,
                    pack=editing,
                )
            except DomainError as refused:
                add_to_form(form, refused)
            else:
                messages.success(request, "Report pack saved.")
                return redirect("reports:packs")
    context = {
        "packs": selectors.packs(),
        "deliveries": selectors.pack_deliveries(),
        "form": form,
        "editing": editing,
        "attach_limit": settings.REPORT_EMAIL_ATTACH_MAX_BYTES,
    }
    return render(request, "reports/pages/packs.html", context)


@requires_capability("download_reports")
@require_POST
def pack_toggle(request, pack_id: int):
    pack = selectors.access_pack(request.user, pack_id)
    packs.set_enabled(pack, enabled=not pack.enabled, by=request.user)
    return redirect("reports:packs")


@requires_capability("download_reports")
@require_POST
def pack_delete(request, pack_id: int):
    pack = selectors.access_pack(request.user, pack_id)
    packs.delete_pack(pack, by=request.user)
    messages.success(request, f"Report pack {pack.name} deleted.")
    return redirect("reports:packs")
