"""API shapes for sources, accounts and datasets (translation only, no rules)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reconciliation.datasets.ingest import FORMATS
from reconciliation.export import plain
from reconciliation.models import AssetAlias, Dataset, ImportJob


@extend_schema_field(OpenApiTypes.STR)
class PlainDecimalField(serializers.Field):
    """An exact decimal as a plain string ("0.000000000000000001"), never a float."""

    def to_representation(self, value):
        return plain(value)


class DatasetSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="code", read_only=True)
    # null: a price feed's dataset has no account; a dataset loaded by a command has no person.
    account = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    loaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "id", "kind", "format", "source", "account", "as_of", "period_start", "period_end",
            "content_hash", "row_count", "original_name", "notes", "loaded_by", "created_at",
        ]  # fmt: skip


class ImportResultSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    dataset = DatasetSerializer()


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True)
    column = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer):
    """A file being loaded by a worker (`GET /api/imports/{id}/`), then its outcome."""

    source = serializers.SlugRelatedField(slug_field="code", read_only=True)
    account = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    dataset = DatasetSerializer(read_only=True, allow_null=True)
    created = serializers.BooleanField(
        read_only=True, allow_null=True,
        help_text="true: the dataset was loaded now; false: the file was already that dataset",
    )  # fmt: skip
    errors = RowErrorSerializer(many=True, read_only=True)
    url = serializers.SerializerMethodField(help_text="where to follow it (also its Location)")

    class Meta:
        model = ImportJob
        fields = [
            "id", "url", "status", "phase", "progress", "message", "errors", "error_count",
            "source", "account", "format", "kind", "filename", "size", "content_hash", "dataset",
            "created", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, job: ImportJob) -> str:
        # In the body too: a retry with the same Idempotency-Key replays the body, not headers.
        return reverse("api-import", args=[job.pk])


class DatasetUploadSerializer(serializers.Serializer):
    """A file upload (multipart) or JSON rows for generic formats and prices."""

    source = serializers.SlugField()
    account = serializers.SlugField(required=False, allow_blank=True)
    format = serializers.ChoiceField(choices=sorted(FORMATS))
    file = serializers.FileField(required=False)
    rows = serializers.ListField(child=serializers.DictField(), required=False)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("rows")):
            raise serializers.ValidationError("Send either a file or rows, not both and not none.")
        return attrs


def record_serializer(model):
    """A read-only serializer for one record model, decimals as plain strings."""
    decimal_fields = {
        field.name: PlainDecimalField(read_only=True, allow_null=field.null)
        for field in model._meta.fields
        if field.get_internal_type() == "DecimalField"
    }
    meta = type("Meta", (), {"model": model, "exclude": ["id", "dataset"]})
    return type(f"{model.__name__}Serializer", (serializers.ModelSerializer,), {
        "Meta": meta, **decimal_fields,
    })  # fmt: skip


class FormatSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.CharField()
    label = serializers.CharField()
    exchange = serializers.CharField(allow_blank=True)


class AssetAliasSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetAlias
        fields = ["id", "exchange", "code", "asset"]
