"""REST API for runs: start, list, read, cancel, and a run's matches."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from config.api_schema import error
from config.idempotency import idempotent
from config.pagination import Pager, page_size
from reconciliation import selectors
from reconciliation.export import plain
from reconciliation.models import Dataset, RuleSetVersion, Run
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import selectors as run_selectors
from reconciliation.runs import services as runs


class RunSerializer(serializers.ModelSerializer):
    # null: a scheduled run (or one started by a command) has no person behind it.
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Run
        fields = [
            "id", "type", "status", "internal_dataset", "external_dataset", "prices_dataset",
            "rule_set_version", "as_of", "progress", "phase", "message", "cancel_requested",
            "deliveries", "break_count", "match_count", "by_severity", "engine_ms", "created_by",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class StartRunSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=sorted(run_inputs.TYPES))
    internal = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    external = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
    prices = serializers.PrimaryKeyRelatedField(
        queryset=Dataset.objects.filter(kind="prices"), required=False, allow_null=True
    )
    rule_set_version = serializers.PrimaryKeyRelatedField(
        queryset=RuleSetVersion.objects.all(), required=False, allow_null=True
    )


class RunListCreate(generics.GenericAPIView):
    required_capabilities = {"GET": "view_breaks", "POST": "start_runs"}
    serializer_class = RunSerializer
    pagination_class = Pager
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        return selectors.runs(type_=params.get("type", ""), status=params.get("status", ""))

    @extend_schema(
        operation_id="runs_list",
        parameters=[OpenApiParameter("type", str), OpenApiParameter("status", str)],
        responses=RunSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(request=StartRunSerializer, responses={201: RunSerializer})
    @idempotent
    def post(self, request):
        body = StartRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        run = runs.start_run(
            type=values["type"], internal=values["internal"], external=values["external"],
            prices=values.get("prices"), rule_set_version=values.get("rule_set_version"),
            by=request.user,
        )  # fmt: skip
        return Response(RunSerializer(run).data, status=201)


class RunDetail(APIView):
    required_capability = "view_breaks"

    @extend_schema(responses=RunSerializer)
    def get(self, request, run_id: int):
        return Response(RunSerializer(run_selectors.access_run(request.user, run_id)).data)


class RunCancel(APIView):
    required_capability = "start_runs"

    @extend_schema(
        request=None,
        responses={200: RunSerializer, 409: error("The run has finished: nothing to cancel.")},
    )
    def post(self, request, run_id: int):
        run = runs.cancel_run(run_selectors.access_run(request.user, run_id), by=request.user)
        return Response(RunSerializer(run).data)


class RunMatches(APIView):
    """The trade matches a run recorded, with the rule that made each, in match id order.

    Pages go forward by match id: `after` (the last id of the previous page, as in `next`) and
    `page_size` (1 to 1000, 100 by default). Decimals are plain strings.
    """

    required_capability = "view_breaks"

    @extend_schema(
        parameters=[OpenApiParameter("after", str), OpenApiParameter("page_size", int)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, run_id):
        run = run_selectors.access_run(request.user, run_id)
        size = page_size(request.query_params.get("page_size"))
        after = request.query_params.get("after", "")
        found = run_selectors.match_page(run, after=after, size=size)
        following = None
        if found.next_after is not None:
            following = replace_query_param(request.build_absolute_uri(), "after", found.next_after)
        return Response({
            "count": run.match_count or 0,
            "next": following,
            "results": [_plain_match(m) for m in found.matches],
        })  # fmt: skip


def _plain_match(match: dict) -> dict:
    return {key: plain(value) if isinstance(value, Decimal) else value
            for key, value in match.items()}  # fmt: skip
