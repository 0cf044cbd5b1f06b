"""Pages for data in: upload with preview and confirmation, datasets, asset aliases."""

from __future__ import annotations

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import requires_capability
from config.errors import add_to_form
from config.query import is_id
from reconciliation import export, selectors
from reconciliation.datasets import import_jobs, ingest, services, staging
from reconciliation.datasets.forms import AliasForm, UploadForm
from reconciliation.models import AssetAlias
from reconciliation.models.datasets import RECORD_MODELS

PREVIEW_ROWS = 20


@requires_capability("upload_datasets")
@require_http_methods(["GET", "POST"])
def upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        source, account = form.cleaned_data["source"], form.cleaned_data["account"]
        upload = form.cleaned_data["file"]
        filename = upload.name
        context = {"form": form, "source": source, "account": account, "filename": filename}
        try:
            ingest.check_size(upload.size)  # before the upload is read into memory
            data = upload.read()
            parsed = ingest.parse_file(
                source=source,
                account=account,
                format_code=form.cleaned_data["format"],
                data=data,
                filename=filename,
            )
        except ingest.TargetRefused as exc:
            form.add_error("account", exc.message)  # the file may be fine: the target is not
            return render(request, "reconciliation/upload.html", {"form": form}, status=422)
        except ingest.DatasetRejected as exc:
            context.update(rejection=exc, errors=exc.errors.first())
            return render(request, "reconciliation/upload.html", context, status=422)
        context.update(
            columns=export.field_names(parsed.kind),
            head=ingest.as_stored(parsed, account, PREVIEW_ROWS),
            row_count=parsed.table.num_rows,
            notes=parsed.notes,
            token=staging.stage(
                data,
                {
                    "source": source.pk,
                    "account": account.pk if account else None,
                    "format": form.cleaned_data["format"],
                    "filename": filename,
                    "user": request.user.pk,
                    "content_hash": ingest.content_hash(form.cleaned_data["format"], data),
                },
            ),
        )
        return render(request, "reconciliation/upload.html", context)
    return render(request, "reconciliation/upload.html", {"form": form})


@requires_capability("upload_datasets")
@require_POST
def confirm_upload(request):
    """Queue the previewed file's import on a worker and show its progress (never load here)."""
    token = request.POST.get("token", "")
    staged = staging.pending(token)  # not read: the worker reads it
    if staged is None or staged["user"] != request.user.pk:
        meta = staging.meta_of(token)
        job = import_jobs.job_for_preview(request.user, meta)
        if job is not None:  # confirmed already (Back, then Load again)
            return redirect("datasets:import", job_id=job.pk)
        loaded = _loaded_before(request.user, meta)
        if loaded is not None:
            messages.info(request, _already_loaded(loaded))
            return redirect("datasets:detail", dataset_id=loaded.pk)
        messages.error(request, "That preview has expired or is not yours; upload the file again.")
        return redirect("datasets:upload")
    try:
        job = import_jobs.queue_confirmed(staged, by=request.user)
    except import_jobs.PreviewGone as exc:
        # Two Loads at once: the other one took the file, and its job is this preview's.
        job = import_jobs.job_for_preview(request.user, staged)
        if job is not None:
            return redirect("datasets:import", job_id=job.pk)
        messages.error(request, exc.message)
        return redirect("datasets:upload")
    except ingest.DatasetRejected as exc:
        messages.error(request, f"Nothing was loaded: {exc.message}")
        return redirect("datasets:upload")
    return redirect("datasets:import", job_id=job.pk)


@requires_capability("upload_datasets")
def import_job(request, job_id: int):
    """An import's progress (htmx polls the status box while it runs), then its outcome."""
    job = import_jobs.access_import_job(request.user, job_id)
    context = {"job": job, "errors": job.errors}
    if request.headers.get("HX-Request"):
        return render(request, "reconciliation/_import_status.html", context)
    return render(request, "reconciliation/import_job.html", context)


def _loaded_before(user, meta: dict | None):
    """The dataset the user's own preview was loaded as, if it was."""
    if meta is None or meta.get("user") != user.pk or "content_hash" not in meta:
        return None
    return ingest.loaded_as(
        source_id=meta["source"], account_id=meta["account"], format_code=meta["format"],
        content_hash=meta["content_hash"],
    )  # fmt: skip


def _already_loaded(dataset) -> str:
    return format_html(
        'This file was already loaded as <a href="{}">dataset {}</a>; nothing was loaded again.',
        reverse("datasets:detail", args=[dataset.pk]),
        dataset.pk,
    )


@requires_capability("view_breaks")
def dataset_list(request):
    filters = {name: request.GET.get(name, "").strip() for name in ("kind", "source", "account")}
    before = request.GET.get("before", "")
    page, older = selectors.dataset_page(filters, before=before if is_id(before) else "")
    context = {
        "datasets": page,
        "older": older,
        "filters": filters,
        "kinds": list(RECORD_MODELS),
    }
    return render(request, "reconciliation/datasets.html", context)


@requires_capability("view_breaks")
def dataset_detail(request, dataset_id: int):
    dataset = selectors.access_dataset(request.user, dataset_id)
    rows = [list(record.values()) for record in export.records(dataset, limit=100)]
    context = {"dataset": dataset, "columns": export.field_names(dataset.kind), "rows": rows}
    return render(request, "reconciliation/dataset.html", context)


@requires_capability("view_breaks")
def dataset_download(request, dataset_id: int, file_format: str):
    dataset = selectors.access_dataset(request.user, dataset_id)
    # Streamed: a dataset of millions of records starts at once and is never held in memory.
    if file_format == "csv":
        pieces = export.dataset_csv_pieces(dataset)
        content_type = "text/csv; charset=utf-8"
    else:
        pieces = export.dataset_json_pieces(dataset)
        content_type = "application/json"
    response = StreamingHttpResponse(pieces, content_type=content_type)
    filename = f"dataset-{dataset.pk}-{dataset.kind}.{file_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@requires_capability("manage_sources")
@require_http_methods(["GET", "POST"])
def aliases(request, alias_id: int | None = None):
    alias = get_object_or_404(AssetAlias, pk=alias_id) if alias_id else None
    form = AliasForm(request.POST or None, instance=alias)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_alias(**form.cleaned_data, by=request.user, alias=alias)
        except services.InvalidAlias as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, "Alias saved.")
            return redirect("datasets:aliases")
    context = {"aliases": selectors.asset_aliases(), "form": form, "editing": alias}
    return render(request, "reconciliation/aliases.html", context)


@requires_capability("manage_sources")
@require_POST
def delete_alias(request, alias_id: int):
    alias = get_object_or_404(AssetAlias, pk=alias_id)
    services.delete_alias(alias, by=request.user)
    messages.success(request, f"Alias {alias.code} deleted.")
    return redirect("datasets:aliases")
