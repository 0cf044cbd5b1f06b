"""API: the audit log and its verification (admins)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.models import AuditEvent
from config.pagination import Pager


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence", "created_at", "actor", "actor_label", "action", "object_type",
            "object_id", "before", "after", "ip", "user_agent", "request_id", "prev_hash", "hash",
            "key_id", "signature",
        ]  # fmt: skip


class ChainReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_sequence = serializers.IntegerField()
    head_hash = serializers.CharField()
    bad_sequence = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)


class AuditEventList(generics.ListAPIView):
    """Audit entries, newest first; filter by action, actor, object_type, object_id."""

    required_capability = "view_audit"
    serializer_class = AuditEventSerializer
    pagination_class = Pager
    page_ordering = "-sequence"
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("action", "actor", "object_type", "object_id")
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.events(
            **{n: params.get(n, "") for n in ("action", "actor", "object_type", "object_id")}
        )


class AuditChainVerify(APIView):
    """Verify the whole hash chain; `ok` false names the first bad entry."""

    required_capability = "view_audit"

    @extend_schema(responses=ChainReportSerializer)
    def get(self, request):
        return Response(ChainReportSerializer(selectors.verify_chain().as_dict()).data)
