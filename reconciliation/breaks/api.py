"""REST API for breaks: list, read, act on in bulk, comment."""

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_schema import error
from config.idempotency import idempotent
from config.pagination import Pager
from reconciliation.breaks import evidence as break_evidence
from reconciliation.breaks import filters as break_filters
from reconciliation.breaks import selectors as break_selectors
from reconciliation.breaks import workflow as break_workflow
from reconciliation.datasets.serializers import PlainDecimalField
from reconciliation.models import Break, BreakComment


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


class BreakList(generics.ListAPIView):
    """Breaks, newest first; filters: type, severity, status (comma lists), asset, account,
    source, run, age (older than, days), within (newer than, days), seen_on and resolved_on (UTC
    days, YYYY-MM-DD), q (search). A filter that cannot be applied is a 400 naming it."""

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
        return Response(CommentSerializer(break_selectors.comments(item), many=True).data)

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
