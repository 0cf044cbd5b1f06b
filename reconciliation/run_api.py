"""REST API for runs and breaks."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from config.api_schema import error
from config.idempotency import idempotent
from config.pagination import Pager, page_size
from reconciliation import (
    break_evidence,
    break_filters,
    break_selectors,
    break_workflow,
    run_inputs,
    runs,
    selectors,
)
from reconciliation.export import plain
from reconciliation.models import Break, BreakComment, Dataset, RuleSetVersion, Run
from reconciliation.serializers import PlainDecimalField


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


class BreakSerializer(serializers.ModelSerializer):
    # null: a side that has no value (missing on one side), a percentage of zero, a break that
    # could not be valued, nothing to suggest, nobody assigned.
    internal_value = PlainDecimalField(allow_null=True)
    external_value = PlainDecimalField(allow_null=True)
    difference = PlainDecimalField(allow_null=True)
    difference_pct = PlainDecimalField(allow_null=True)
    value_rc = PlainDecimalField(allow_null=True)
    suggested_value = PlainDecimalField(allow_null=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Both sides by source and code (the `account` column is the code the data carried, which
    # two exchanges may share: "main").
    book_account = serializers.StringRelatedField(source="internal_account")
    exchange_account = serializers.StringRelatedField(source="external_account")
    book_trade_ids = serializers.SerializerMethodField()
    exchange_trade_ids = serializers.SerializerMethodField()

    class Meta:
        model = Break
        fields = [
            "id", "type", "break_key", "account", "asset", "entity", "field", "status",
            "accepted_reason", "assignee", "first_seen_run", "last_seen_run", "first_seen_at",
            "last_seen_at", "times_seen", "resolved_at", "internal_value", "external_value",
            "difference", "difference_pct", "value_rc", "severity", "causes", "suggested_value",
            "details", "book_trade_ids", "exchange_trade_ids", "book_account", "exchange_account",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_book_trade_ids(self, item) -> list[str] | None:
        """The book's trade ids of a trades or fees break (null for other breaks)."""
        ids = break_evidence.of_break(item)
        return None if ids is None else ids.book

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_exchange_trade_ids(self, item) -> list[str] | None:
        """The exchange's trade ids of a trades or fees break (null for other breaks)."""
        ids = break_evidence.of_break(item)
        return None if ids is None else ids.exchange


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BreakComment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would take the number 5 as "5" (and `true` is refused here)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NewCommentSerializer(serializers.Serializer):
    text = StrictCharField(max_length=break_workflow.MAX_COMMENT)


class BreakActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["investigate", "accept", "assign", "reopen"])
    ids = serializers.ListField(child=serializers.IntegerField(), max_length=1000)
    reason = serializers.CharField(required=False, allow_blank=True)
    assignee = serializers.IntegerField(required=False, allow_null=True)


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
        return Response(RunSerializer(break_selectors.access_run(request.user, run_id)).data)


class RunCancel(APIView):
    required_capability = "start_runs"

    @extend_schema(
        request=None,
        responses={200: RunSerializer, 409: error("The run has finished: nothing to cancel.")},
    )
    def post(self, request, run_id: int):
        run = runs.cancel_run(break_selectors.access_run(request.user, run_id), by=request.user)
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
        run = break_selectors.access_run(request.user, run_id)
        size = page_size(request.query_params.get("page_size"))
        after = request.query_params.get("after", "")
        found = break_selectors.match_page(run, after=after, size=size)
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


class BreakList(generics.ListAPIView):
    """Breaks, newest first; filters: type, severity, status (comma lists), asset, account,
    source, run, age (days), q (search). A filter that cannot be applied is a 400 naming it."""

    required_capability = "view_breaks"
    serializer_class = BreakSerializer
    pagination_class = Pager
    filter_backends = []

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in break_filters.FILTERS])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = break_filters.read(self.request.query_params)
        return break_selectors.breaks(filters).select_related(*break_selectors.LISTED_WITH)


class BreakDetail(APIView):
    required_capability = "view_breaks"

    @extend_schema(responses=BreakSerializer)
    def get(self, request, break_id: int):
        return Response(BreakSerializer(break_selectors.access_break(request.user, break_id)).data)


class BreakActions(APIView):
    """Investigate, accept (with a reason), assign or reopen breaks, in bulk."""

    required_capability = "work_breaks"

    @extend_schema(
        request=BreakActionSerializer,
        responses={
            200: inline_serializer("BreakActionResult", {"updated": serializers.IntegerField()}),
            409: error("Nothing was changed: the action does not apply to these breaks, or "
                       "needs what was not given (`fields` names it: an accept's reason)."),
        },
    )  # fmt: skip
    def post(self, request):
        body = BreakActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values, ids = body.validated_data, body.validated_data["ids"]
        count = break_workflow.apply(
            values["action"], ids, by=request.user, reason=values.get("reason", ""),
            assignee_id=values.get("assignee"),
        )  # fmt: skip
        return Response({"updated": count})


class BreakComments(APIView):
    required_capabilities = {"GET": "view_breaks", "POST": "work_breaks"}

    @extend_schema(responses=CommentSerializer(many=True))
    def get(self, request, break_id: int):
        item = break_selectors.access_break(request.user, break_id)
        return Response(CommentSerializer(item.comments.select_related("author"), many=True).data)

    @extend_schema(
        request=NewCommentSerializer,
        responses={201: CommentSerializer},
    )
    @idempotent
    def post(self, request, break_id: int):
        item = break_selectors.access_break(request.user, break_id)
        body = NewCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = break_workflow.comment(item.pk, text=body.validated_data["text"], by=request.user)
        return Response(CommentSerializer(note).data, status=201)
