"""REST API: datasets (list, upload, records) and formats."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api_schema import error
from config.idempotency import idempotent
from config.pagination import Pager
from reconciliation import selectors
from reconciliation.datasets import import_jobs, ingest
from reconciliation.datasets.serializers import (
    DatasetSerializer,
    DatasetUploadSerializer,
    FormatSerializer,
    ImportJobSerializer,
    ImportResultSerializer,
    record_serializer,
)
from reconciliation.models.datasets import RECORD_MODELS, file_order

RECORD_SERIALIZERS = {kind: record_serializer(model) for kind, model in RECORD_MODELS.items()}
FILTERS = ("kind", "source", "account", "format")


class _SettingsWithoutFormatOverride:
    URL_FORMAT_OVERRIDE = None

    def __getattr__(self, name):
        return getattr(api_settings, name)


class FormatIsAFilter(DefaultContentNegotiation):
    """`?format=` here filters by import format; DRF would take it as the renderer (a 404)."""

    settings = _SettingsWithoutFormatOverride()


class DatasetListCreate(generics.GenericAPIView):
    """List datasets (newest first, filtered), or load one from a file or JSON rows."""

    required_capabilities = {"GET": "view_breaks", "POST": "upload_datasets"}
    serializer_class = DatasetSerializer
    content_negotiation_class = FormatIsAFilter
    pagination_class = Pager
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        return selectors.datasets(
            kind=params.get("kind", ""),
            source=params.get("source", ""),
            account=params.get("account", ""),
            format_code=params.get("format", ""),
        )

    @extend_schema(
        operation_id="datasets_list",
        parameters=[OpenApiParameter(name, str) for name in FILTERS],
        responses=DatasetSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DatasetSerializer(page, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": DatasetUploadSerializer,
            "application/json": DatasetUploadSerializer,
        },
        responses={
            200: ImportResultSerializer,
            201: ImportResultSerializer,
            202: ImportJobSerializer,
            404: error("No source or account of that name (`message` lists the known ones)."),
            422: error(
                "The data cannot be loaded (`fields.errors`: the first row errors, "
                "`fields.error_count`: how many), or the database refused to store it."
            ),
            503: error("The database failed while storing; nothing was kept: try again later."),
        },
        parameters=[
            OpenApiParameter(
                "Prefer", str, OpenApiParameter.HEADER,
                description="`respond-async`: queue any file on a worker (202 and an import job).",
            ),
        ],
        description=(
            "A file of at most IMPORT_API_SYNC_MAX_BYTES (256 KiB by default) is loaded in the "
            "request: 201 (loaded) or 200 (already loaded). A larger file, or any file sent with "
            "`Prefer: respond-async`, is loaded by a worker: 202 with the import job, whose "
            "`Location` is `/api/imports/{id}/`. JSON rows are always loaded in the request."
        ),
    )  # fmt: skip
    @idempotent
    def post(self, request):
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        values = upload.validated_data
        source = selectors.source_named(values["source"])
        account = (
            selectors.account_named(source, values["account"]) if values.get("account") else None
        )
        if values.get("file"):
            ingest.check_size(values["file"].size)  # before the upload is read into memory
            if _asks_for_a_worker(request, values["file"].size):
                job = import_jobs.queue_file(
                    source=source, account=account, format_code=values["format"],
                    data=values["file"].read(), filename=values["file"].name, by=request.user,
                )  # fmt: skip
                headers = {"Location": reverse("api-import", args=[job.pk])}
                if _prefers_async(request):
                    headers["Preference-Applied"] = "respond-async"
                return Response(ImportJobSerializer(job).data, status=202, headers=headers)
            result = ingest.import_file(
                source=source,
                account=account,
                format_code=values["format"],
                data=values["file"].read(),
                filename=values["file"].name,
                by=request.user,
            )
        else:
            result = ingest.import_rows(
                source=source,
                account=account,
                format_code=values["format"],
                rows=request.data.get("rows"),
                by=request.user,
            )
        body = ImportResultSerializer({"created": result.created, "dataset": result.dataset}).data
        return Response(body, status=201 if result.created else 200)


def _prefers_async(request) -> bool:
    """RFC 7240's `Prefer: respond-async` (among other preferences, in any case)."""
    preferences = request.headers.get("Prefer", "").replace(";", ",").split(",")
    return any(part.strip().lower() == "respond-async" for part in preferences)


def _asks_for_a_worker(request, size: int) -> bool:
    """Files too large to load within a web request's time go to a worker (or on request)."""
    return size > settings.IMPORT_API_SYNC_MAX_BYTES or _prefers_async(request)


class ImportJobDetail(APIView):
    """An import job queued by `POST /api/datasets/` (the uploader's own): progress, outcome."""

    required_capability = "upload_datasets"

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, job_id: int):
        return Response(
            ImportJobSerializer(import_jobs.access_import_job(request.user, job_id)).data
        )


class DatasetDetail(APIView):
    required_capability = "view_breaks"

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, dataset_id: int):
        dataset = selectors.access_dataset(request.user, dataset_id)
        return Response(DatasetSerializer(dataset).data)


class DatasetRecords(generics.ListAPIView):
    """The dataset's records in file order; decimals are exact strings.

    The records have the shape of the dataset's kind (its `kind`): balances, trades, ledger
    entries, prices, margin or PnL; every record of a page has the same one.
    """

    required_capability = "view_breaks"
    pagination_class = Pager
    default_page_size, max_page_size = 500, 5000
    filter_backends = []
    serializer_class = serializers.Serializer  # per kind, see get_serializer_class

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "asset",
                str,
                description="Only records in this asset (as asset, base, quote or fee asset).",
            )
        ],
        responses=PolymorphicProxySerializer(
            component_name="Record",
            serializers=[RECORD_SERIALIZERS[kind] for kind in RECORD_MODELS],
            resource_type_field_name=None,
            many=True,
        ),
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def page_ordering(self):
        # A ledger row may hold two records (its legs): row number and leg, unique.
        return file_order(self.dataset.kind)

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):
            return RECORD_SERIALIZERS["trades"]
        return RECORD_SERIALIZERS[self.dataset.kind]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.no_records()
        self.dataset = selectors.access_dataset(self.request.user, self.kwargs["dataset_id"])
        return selectors.dataset_records(
            self.dataset, asset=self.request.query_params.get("asset", "")
        )


class FormatList(APIView):
    """The import formats and the dataset kind each produces."""

    @extend_schema(responses=FormatSerializer(many=True))
    def get(self, request):
        return Response(
            [
                {"code": f.code, "kind": f.kind, "label": f.label, "exchange": f.exchange}
                for f in ingest.FORMATS.values()
            ]
        )
