"""REST API for rule sets: list, create, drafts, edit, publish, compare."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_schema import error
from reconciliation import selectors
from reconciliation.models import RuleSet, RuleSetVersion
from reconciliation.rules import preview
from reconciliation.rules import services as rule_sets
from reconciliation.runs.selectors import access_run


class VersionSerializer(serializers.ModelSerializer):
    rule_set = serializers.SlugRelatedField(slug_field="name", read_only=True)
    # null: the default rule set is made without a person; a draft has no publisher yet.
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    published_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    fingerprint = serializers.SerializerMethodField(
        help_text="Of the definition and notes: send it back with an edit or publish to refuse "
        "them (409 draft_changed) if someone changed the draft since you read it."
    )

    class Meta:
        model = RuleSetVersion
        fields = [
            "id", "rule_set", "number", "status", "definition", "notes", "fingerprint",
            "created_by", "created_at", "published_by", "published_at",
        ]  # fmt: skip

    def get_fingerprint(self, version) -> str:
        return rule_sets.fingerprint(version)


class RuleSetSerializer(serializers.ModelSerializer):
    versions = VersionSerializer(many=True, read_only=True)

    class Meta:
        model = RuleSet
        fields = ["id", "name", "description", "created_at", "versions"]


class CreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)


class EditSerializer(serializers.Serializer):
    definition = serializers.JSONField()
    notes = serializers.CharField(
        required=False, allow_blank=True, help_text="Left out: the stored notes are kept."
    )
    fingerprint = serializers.CharField(
        required=False, help_text="The version's fingerprint as you read it (optional guard)."
    )


class PublishSerializer(serializers.Serializer):
    """Optional: the content to save first (as in an edit), and the fingerprint you read."""

    definition = serializers.JSONField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    fingerprint = serializers.CharField(required=False)


class DiffSerializer(serializers.Serializer):
    path = serializers.CharField()
    old = serializers.JSONField()
    new = serializers.JSONField()


NOT_A_DRAFT = "The version is published (only a draft can change)"
CHANGED = "or someone changed the draft since you read it (`draft_changed`: read it again)."


class RuleSetList(APIView):
    required_capabilities = {"GET": "view_breaks", "POST": "configure_rules"}

    @extend_schema(responses=RuleSetSerializer(many=True))
    def get(self, request):
        queryset = selectors.rule_sets_with_versions()
        return Response(RuleSetSerializer(queryset, many=True).data)

    @extend_schema(request=CreateSerializer, responses={201: VersionSerializer})
    def post(self, request):
        body = CreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        draft = rule_sets.create_rule_set(**body.validated_data, by=request.user)
        return Response(VersionSerializer(draft).data, status=201)


class DraftStart(APIView):
    required_capability = "configure_rules"

    @extend_schema(
        request=None,
        responses={
            201: VersionSerializer,
            409: error("The rule set has a draft already: edit or discard that one."),
        },
    )
    def post(self, request, rule_set_id: int):
        rule_set = selectors.access_rule_set(request.user, rule_set_id)
        return Response(VersionSerializer(rule_sets.start_draft(rule_set, by=request.user)).data,
                        status=201)  # fmt: skip


class VersionDetail(APIView):
    required_capabilities = {"GET": "view_breaks", "PUT": "configure_rules",
                             "DELETE": "configure_rules"}  # fmt: skip

    @extend_schema(responses=VersionSerializer)
    def get(self, request, version_id: int):
        return Response(VersionSerializer(selectors.access_version(request.user, version_id)).data)

    @extend_schema(
        request=EditSerializer,
        responses={200: VersionSerializer, 409: error(f"{NOT_A_DRAFT}, {CHANGED}")},
    )
    def put(self, request, version_id: int):
        version = selectors.access_version(request.user, version_id)
        body = EditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        version = rule_sets.update_draft(
            version, definition=data["definition"], notes=data.get("notes"),
            seen=data.get("fingerprint"), by=request.user,
        )  # fmt: skip
        return Response(VersionSerializer(version).data)

    @extend_schema(responses={204: None, 409: error(f"{NOT_A_DRAFT}.")})
    def delete(self, request, version_id: int):
        rule_sets.discard_draft(selectors.access_version(request.user, version_id), by=request.user)
        return Response(status=204)


class VersionPublish(APIView):
    required_capability = "configure_rules"

    @extend_schema(
        request=PublishSerializer,
        responses={200: VersionSerializer, 409: error(f"{NOT_A_DRAFT}, {CHANGED}")},
    )
    def post(self, request, version_id: int):
        version = selectors.access_version(request.user, version_id)
        body = PublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        version = rule_sets.publish(
            version, by=request.user, definition=data.get("definition"), notes=data.get("notes"),
            seen=data.get("fingerprint"),
        )  # fmt: skip
        return Response(VersionSerializer(version).data)


class VersionCompare(APIView):
    """Differences between two versions, field by field."""

    required_capability = "view_breaks"

    @extend_schema(
        parameters=[OpenApiParameter("old", int, required=True),
                    OpenApiParameter("new", int, required=True)],
        responses={
            200: DiffSerializer(many=True),
            404: error("No such version, or not one you may see."),
        },
    )  # fmt: skip
    def get(self, request):
        params = request.query_params
        old, new = selectors.versions_to_compare(request.user, params.get("old"), params.get("new"))
        return Response(DiffSerializer(rule_sets.compare(old, new), many=True).data)


class PreviewSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk")
    appear = serializers.ListField(child=serializers.DictField())
    disappear = serializers.ListField(child=serializers.DictField())
    change = serializers.ListField(child=serializers.DictField())
    unchanged = serializers.IntegerField()


class VersionPreview(APIView):
    """Replay a finished run under this version: breaks that would appear, disappear, change."""

    required_capability = "view_breaks"

    @extend_schema(parameters=[OpenApiParameter("run", int, required=True)],
                   responses=PreviewSerializer)  # fmt: skip
    def get(self, request, version_id: int):
        version = selectors.access_version(request.user, version_id)
        run = access_run(request.user, request.query_params.get("run", ""))
        return Response(PreviewSerializer(preview.preview(version, run)).data)
