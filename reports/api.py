"""REST API for reports: list, ask for one (built by a worker), read, download, retry; report
packs: list, create, change, delete. Every POST honours Idempotency-Key."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_schema import error
from config.idempotency import idempotent
from config.pagination import Pager
from config.query import is_id
from reports import packs, selectors, services
from reports.models import FORMAT_CHOICES, FORMATS, Report, ReportPack
from reports.responses import file_response
from reports.scope import Wanted
from reports.selectors import SEVERITIES, TYPES


class ReportSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    pack = serializers.CharField(
        source="pack_delivery.pack.name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Report
        fields = [
            "id",
            "format",
            "status",
            "run",
            "period_from",
            "period_to",
            "filters",
            "title",
            "progress",
            "phase",
            "message",
            "size",
            "sha256",
            "break_count",
            "chain_sequence",
            "chain_hash",
            "build_ms",
            "deliveries",
            "pack",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields


class FiltersSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(TYPES), required=False, allow_blank=True)
    source = serializers.CharField(max_length=50, required=False, allow_blank=True)
    account = serializers.CharField(max_length=100, required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=list(SEVERITIES), required=False, allow_blank=True)


class AskSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMAT_CHOICES)  # one choice set: one schema enum
    run = serializers.IntegerField(required=False, min_value=1, help_text="a succeeded run")
    period_from = serializers.DateField(required=False, help_text="first day (UTC)")
    period_to = serializers.DateField(required=False, help_text="last day (UTC, inclusive)")
    filters = FiltersSerializer(required=False)


def _wanted(values: dict) -> Wanted:
    filters = {k: v for k, v in (values.get("filters") or {}).items() if v}
    return Wanted(
        run_id=values.get("run"),
        period_from=values.get("period_from"),
        period_to=values.get("period_to"),
        filters=filters,
    )


class ReportList(generics.ListCreateAPIView):
    """Reports, newest first (filters: status, file_format, run); POST asks for one, which a worker
    builds (202; follow its `status` until `ready`, then download it)."""

    required_capabilities = {"GET": "view_reports", "POST": "download_reports"}
    serializer_class = ReportSerializer
    pagination_class = Pager
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(Report.Status.values)),
            OpenApiParameter("file_format", str, enum=list(FORMATS)),
            OpenApiParameter("run", int),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        problems = {}
        # Not "format": DRF reads ?format= as the answer's renderer.
        status, format_ = params.get("status", ""), params.get("file_format", "")
        if status and status not in Report.Status.values:
            problems["status"] = [f"one of {', '.join(Report.Status.values)}"]
        if format_ and format_ not in FORMATS:
            problems["file_format"] = [f"one of {', '.join(FORMATS)}"]
        run = params.get("run", "")
        if run and not (is_id(run) and int(run) >= 1):
            problems["run"] = ["a run id (a whole number from 1)"]
        if problems:
            raise serializers.ValidationError(problems)
        return selectors.reports(status=status, format_=format_, run_id=int(run) if run else None)

    @extend_schema(
        request=AskSerializer,
        responses={
            202: ReportSerializer,
            400: error(
                "The scope cannot be reported (`report_scope_refused`): no such "
                "run, a run that did not succeed, a period that ends before it "
                "starts or in the future; the message says which."
            ),
        },
    )
    @idempotent
    def post(self, request, *args, **kwargs):
        body = AskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = services.request_report(
            _wanted(body.validated_data), format_=body.validated_data["format"], by=request.user
        )
        return Response(ReportSerializer(report).data, status=202)


class ReportDetail(APIView):
    required_capability = "view_reports"

    @extend_schema(responses=ReportSerializer)
    def get(self, request, report_id: int):
        return Response(ReportSerializer(selectors.access_report(request.user, report_id)).data)


class ReportDownload(APIView):
    """The report's file, once its SHA-256 is verified (also sent as `X-Content-SHA256`); each
    download is audited."""

    required_capability = "download_reports"

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            409: error(
                "Not ready (`report_refused`), or its stored file no longer "
                "matches its checksum (`report_file_damaged`)."
            ),
        },
    )
    def get(self, request, report_id: int):
        report = selectors.access_report(request.user, report_id)
        found = services.download(report, by=request.user)
        return file_response(found, report.sha256)


class ReportRetry(APIView):
    """Build a failed report again."""

    required_capability = "download_reports"

    @extend_schema(
        request=None,
        responses={200: ReportSerializer, 409: error("Only a failed build is tried again.")},
    )
    @idempotent
    def post(self, request, report_id: int):
        report = selectors.access_report(request.user, report_id)
        return Response(ReportSerializer(services.retry_report(report, by=request.user)).data)


class PackSerializer(serializers.ModelSerializer):
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=FORMAT_CHOICES), min_length=1
    )
    recipients = serializers.ListField(
        child=serializers.EmailField(), min_length=1, max_length=packs.MAX_RECIPIENTS
    )
    filters = FiltersSerializer(required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReportPack
        fields = [
            "id",
            "name",
            "formats",
            "period",
            "filters",
            "recipients",
            "cron",
            "enabled",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]
        extra_kwargs = {"name": {"validators": []}}  # the service says "That name is taken."


def _save(request, pack: ReportPack | None) -> ReportPack:
    body = PackSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    values = body.validated_data
    return packs.save_pack(
        name=values["name"],
        formats=values["formats"],
        period=values["period"],
        recipients=values["recipients"],
        cron=values["cron"],
        filters=dict(values.get("filters") or {}),
        enabled=values.get("enabled", True),
        by=request.user,
        pack=pack,
    )


class PackList(generics.ListAPIView):
    """Report packs; POST creates one (its beat schedule with it)."""

    required_capabilities = {"GET": "view_reports", "POST": "download_reports"}
    serializer_class = PackSerializer
    pagination_class = Pager
    filter_backends = []

    def get_queryset(self):
        return selectors.packs()

    @extend_schema(request=PackSerializer, responses={201: PackSerializer})
    @idempotent
    def post(self, request):
        return Response(PackSerializer(_save(request, None)).data, status=201)


class PackDetail(APIView):
    """One report pack: read, replace (PUT, e.g. `enabled: false` to pause it), delete (only
    one never delivered: a delivered pack is history, pause it instead)."""

    required_capabilities = {
        "GET": "view_reports",
        "PUT": "download_reports",
        "DELETE": "download_reports",
    }

    @extend_schema(responses=PackSerializer)
    def get(self, request, pack_id: int):
        return Response(PackSerializer(selectors.access_pack(request.user, pack_id)).data)

    @extend_schema(request=PackSerializer, responses=PackSerializer)
    def put(self, request, pack_id: int):
        pack = selectors.access_pack(request.user, pack_id)
        return Response(PackSerializer(_save(request, pack)).data)

    @extend_schema(responses={204: None, 409: error("The pack has been delivered.")})
    def delete(self, request, pack_id: int):
        packs.delete_pack(selectors.access_pack(request.user, pack_id), by=request.user)
        return Response(status=204)
