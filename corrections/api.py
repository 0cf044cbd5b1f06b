"""REST API for corrections: list and read; propose one of a break; approve (one or many),
reject, apply and roll back; a run's approved corrections applied, or its applied ones rolled
back, at once. Every POST honours Idempotency-Key (config/idempotency.py)."""

from __future__ import annotations

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
from corrections import selectors, services
from corrections.models import Approval, Correction
from reconciliation.breaks import selectors as break_selectors
from reconciliation.datasets.serializers import PlainDecimalField
from reconciliation.models import Adjustment

REFUSED = ("Nothing was changed: the correction is not in a state this applies to, or four "
           "eyes refuse it (its creator, or an approver approving twice).")  # fmt: skip
STALE = ("Or: the book no longer holds the value the correction changes (`correction_stale`); "
         "nothing was changed, propose a new correction.")  # fmt: skip


class CorrectionSerializer(serializers.ModelSerializer):
    # null: a value the operation has none of (a text change has no number, an added trade no
    # original), a correction that could not be valued (no price), a run's proposal (no person).
    original_value = PlainDecimalField(allow_null=True)
    corrected_value = PlainDecimalField(allow_null=True)
    delta = PlainDecimalField(allow_null=True)
    impact_rc = PlainDecimalField(allow_null=True)
    price = PlainDecimalField(allow_null=True)
    portfolio_value_rc = PlainDecimalField(allow_null=True)
    portfolio_share_pct = PlainDecimalField(allow_null=True)
    change_pct = PlainDecimalField(allow_null=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    break_id = serializers.IntegerField(source="break_record_id", read_only=True)
    break_severity = serializers.CharField(source="break_record.severity", read_only=True)
    account = serializers.StringRelatedField()

    class Meta:
        model = Correction
        fields = [
            "id", "status", "origin", "break_id", "break_severity", "run", "rule_set_version",
            "type", "dataset", "account", "record_kind", "asset", "target", "field", "operation",
            "original_value", "corrected_value", "delta", "original_text", "corrected_text",
            "trade_row", "impact_rc", "reporting_currency", "price", "price_as_of",
            "portfolio_value_rc", "portfolio_share_pct", "change_pct", "validation",
            "rollback_plan", "reason", "approvals_required", "auto_approved", "policy_note",
            "content_hash", "supersedes", "applied_set", "reversal_set", "rejection_reason",
            "failure", "created_by", "created_at", "changed_at", "approved_at", "applied_at",
            "rolled_back_at", "rejected_at",
        ]  # fmt: skip


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Approval
        fields = ["approver", "content_hash", "created_at"]


class AdjustmentSerializer(serializers.ModelSerializer):
    delta = PlainDecimalField(allow_null=True)

    class Meta:
        model = Adjustment
        fields = ["id", "kind", "account", "key", "field", "operation", "delta", "value",
                  "previous", "row"]  # fmt: skip


class AdjustmentSetSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="adjustment_set.pk")
    role = serializers.ChoiceField(choices=["applied", "reversal"])
    created_at = serializers.DateTimeField(source="adjustment_set.created_at")
    adjustments = AdjustmentSerializer(many=True)


class HistorySerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_label = serializers.CharField()
    action = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class AllowedSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    reject = serializers.BooleanField()
    apply = serializers.BooleanField()
    roll_back = serializers.BooleanField()
    approve_refusal = serializers.CharField(
        help_text="why you may not approve it; empty if you may"
    )


class CorrectionDetailSerializer(CorrectionSerializer):
    """One correction with its approvals, book adjustments, history, and what you may do."""

    approvals = serializers.SerializerMethodField()
    adjustment_sets = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    allowed = serializers.SerializerMethodField()

    class Meta(CorrectionSerializer.Meta):
        fields = [*CorrectionSerializer.Meta.fields, "approvals", "adjustment_sets", "history",
                  "allowed"]  # fmt: skip

    @extend_schema_field(ApprovalSerializer(many=True))
    def get_approvals(self, item):
        return ApprovalSerializer(selectors.approvals(item), many=True).data

    @extend_schema_field(AdjustmentSetSerializer(many=True))
    def get_adjustment_sets(self, item):
        return AdjustmentSetSerializer(selectors.adjustment_sets(item), many=True).data

    @extend_schema_field(HistorySerializer(many=True))
    def get_history(self, item):
        return HistorySerializer(selectors.history(item), many=True).data

    @extend_schema_field(AllowedSerializer)
    def get_allowed(self, item):
        allowed = selectors.allowed(self.context["request"].user, item)
        return AllowedSerializer(allowed).data


def _detail(request, correction: Correction, status: int = 200) -> Response:
    correction = selectors.access_correction(request.user, correction.pk)
    body = CorrectionDetailSerializer(correction, context={"request": request}).data
    return Response(body, status=status)


class CorrectionList(generics.ListAPIView):
    """Corrections, newest first; filters: status, severity (of the break), type (of the run;
    comma lists), asset, run, age (older than, days), within (newer than, days), automatic
    (yes/no), mine (proposed: by the token's user; to_approve: pending ones they may approve),
    min_impact, max_impact (in the reporting currency). A filter that cannot be applied is a 400
    naming it."""

    required_capability = "view_corrections"
    serializer_class = CorrectionSerializer
    pagination_class = Pager
    filter_backends = []

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in selectors.FILTERS])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = selectors.read(self.request.query_params)
        filters["after"] = None  # the API pages by cursor
        return selectors.corrections(filters, user=self.request.user)


class CorrectionDetail(APIView):
    required_capability = "view_corrections"

    @extend_schema(responses=CorrectionDetailSerializer)
    def get(self, request, correction_id: int):
        return _detail(request, selectors.access_correction(request.user, correction_id))


class TextField(serializers.CharField):
    """Text only: DRF's CharField would take the number 5 as "5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProposeSerializer(serializers.Serializer):
    reason = TextField(max_length=2000)
    corrected_value = serializers.DecimalField(
        max_digits=38, decimal_places=18, required=False, allow_null=True, coerce_to_string=True,
        help_text="a number's new value; absent: the break's suggested value",
    )  # fmt: skip
    corrected_text = TextField(
        max_length=100, required=False, allow_blank=True,
        help_text="a text's new value (a side, a time, a fee asset)",
    )  # fmt: skip


class BreakCorrections(APIView):
    """A break's corrections; POST proposes one (from the break's latest run)."""

    required_capabilities = {"GET": "view_corrections", "POST": "propose_corrections"}

    @extend_schema(responses=CorrectionSerializer(many=True))
    def get(self, request, break_id: int):
        item = break_selectors.access_break(request.user, break_id)
        return Response(CorrectionSerializer(selectors.of_break(item), many=True).data)

    @extend_schema(
        request=ProposeSerializer,
        responses={
            201: CorrectionDetailSerializer,
            409: error("Nothing was proposed: the break is not live, already has a pending, "
                       "approved or applied correction, or the book already holds the value."),
            422: error("The break cannot be corrected in the book (`break_not_correctable`): "
                       "the message says what to do instead."),
        },
    )  # fmt: skip
    @idempotent
    def post(self, request, break_id: int):
        item = break_selectors.access_break(request.user, break_id)
        body = ProposeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        correction = services.propose(
            item, by=request.user, reason=values["reason"],
            corrected_value=values.get("corrected_value"),
            corrected_text=values.get("corrected_text", ""),
            origin=Correction.Origin.SYSTEM if request.auth is not None
            else Correction.Origin.MANUAL,
        )  # fmt: skip
        return _detail(request, correction, status=201)


class ReasonSerializer(serializers.Serializer):
    reason = TextField(max_length=2000)


class _Action(APIView):
    required_capability = "approve_corrections"
    with_reason = False

    def act(self, correction, *, by, reason):
        raise NotImplementedError

    def _post(self, request, correction_id: int):
        correction = selectors.access_correction(request.user, correction_id)
        reason = ""
        if self.with_reason:
            body = ReasonSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            reason = body.validated_data["reason"]
        return _detail(request, self.act(correction, by=request.user, reason=reason))


class CorrectionApprove(_Action):
    """Approve a pending correction: one approval; approved once it has those it needs."""

    def act(self, correction, *, by, reason):
        return services.approve(correction, by=by)

    @extend_schema(request=None, responses={200: CorrectionDetailSerializer, 409: error(REFUSED)})
    @idempotent
    def post(self, request, correction_id: int):
        return self._post(request, correction_id)


class CorrectionReject(_Action):
    """Reject a pending or approved correction, with a reason (final)."""

    with_reason = True

    def act(self, correction, *, by, reason):
        return services.reject(correction, by=by, reason=reason)

    @extend_schema(
        request=ReasonSerializer, responses={200: CorrectionDetailSerializer, 409: error(REFUSED)}
    )
    @idempotent
    def post(self, request, correction_id: int):
        return self._post(request, correction_id)


class CorrectionApply(_Action):
    """Write an approved correction's adjustments to the book."""

    def act(self, correction, *, by, reason):
        return services.apply(correction, by=by)

    @extend_schema(
        request=None,
        responses={200: CorrectionDetailSerializer, 409: error(f"{REFUSED} {STALE}")},
    )
    @idempotent
    def post(self, request, correction_id: int):
        return self._post(request, correction_id)


class CorrectionRollBack(_Action):
    """Reverse an applied correction's adjustments, with a reason."""

    with_reason = True

    def act(self, correction, *, by, reason):
        return services.roll_back(correction, by=by, reason=reason)

    @extend_schema(
        request=ReasonSerializer, responses={200: CorrectionDetailSerializer, 409: error(REFUSED)}
    )
    @idempotent
    def post(self, request, correction_id: int):
        return self._post(request, correction_id)


class ApproveManySerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class CorrectionsApprove(APIView):
    """Approve many corrections at once, all or nothing: one you may not approve refuses the
    whole batch (the message names each and why; `fields.ids` lists them)."""

    required_capability = "approve_corrections"

    @extend_schema(
        operation_id="corrections_approve_many",
        request=ApproveManySerializer,
        responses={
            200: inline_serializer("ApproveManyResult", {
                "approved": serializers.ListField(child=serializers.IntegerField()),
                "corrections": CorrectionSerializer(many=True),
            }),
            409: error("Nothing was approved: you may not approve some of them."),
        },
    )  # fmt: skip
    @idempotent
    def post(self, request):
        body = ApproveManySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["ids"]
        chosen = selectors.by_ids(ids)
        missing = sorted(set(ids) - {c.pk for c in chosen})
        if missing:
            raise services.CorrectionRefused(
                f"Nothing was approved: no correction {', '.join(map(str, missing))}.",
                fields={"ids": [str(pk) for pk in missing]},
            )
        done = services.approve_many(chosen, by=request.user)
        shown = selectors.corrections({}).filter(pk__in=[c.pk for c in done])
        return Response({
            "approved": [c.pk for c in done if c.status == Correction.Status.APPROVED],
            "corrections": CorrectionSerializer(shown, many=True).data,
        })  # fmt: skip


class RunApply(APIView):
    """Apply every approved correction of the run, all or nothing."""

    required_capability = "approve_corrections"

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer("RunApplyResult", {"applied": serializers.IntegerField()}),
            409: error("Nothing was applied: a correction is stale (`correction_stale`)."),
        },
    )
    @idempotent
    def post(self, request, run_id: int):
        run = selectors.access_run(request.user, run_id)
        return Response({"applied": services.apply_run(run, by=request.user)})


class RunRollBack(APIView):
    """Roll back every applied correction of the run, with a reason, all or nothing."""

    required_capability = "approve_corrections"

    @extend_schema(
        request=ReasonSerializer,
        responses={
            200: inline_serializer(
                "RunRollBackResult", {"rolled_back": serializers.IntegerField()}
            ),
            409: error("Nothing was rolled back."),
        },
    )
    @idempotent
    def post(self, request, run_id: int):
        run = selectors.access_run(request.user, run_id)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        return Response(
            {"rolled_back": services.roll_back_run(run, by=request.user, reason=reason)}
        )
