"""Django admin for sources, accounts, asset codes and credentials (values never shown)."""

from django import forms
from django.contrib import admin
from django.db import models, transaction

from config.read_only_admin import ReadOnlyAdmin
from reconciliation.datasets import credentials, services
from reconciliation.models import Account, AssetAlias, Dataset, ExchangeCredential, Source
from reconciliation.schedules import admin as schedule_admin  # noqa: F401 (beat's admin, read-only)


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete (the bulk action too) goes through the audited services."""

    def save_model(self, request, obj, form, change):
        self.save_audited(obj, by=request.user)

    def delete_model(self, request, obj):
        self.delete_audited(obj, by=request.user)

    def delete_queryset(self, request, queryset):
        # Django's "delete selected" action ends here: one audited delete per row, all or none.
        with transaction.atomic():
            for obj in queryset:
                self.delete_audited(obj, by=request.user)

    def save_audited(self, obj, *, by):
        raise NotImplementedError

    def delete_audited(self, obj, *, by):
        raise NotImplementedError


@admin.register(Source)
class SourceAdmin(AuditedAdmin):
    list_display = ("code", "name", "kind", "exchange")
    # An API address typed without a scheme is https (Django 6's default; no warning before).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_audited(self, obj, *, by):
        services.save_source(obj, by=by)

    def delete_audited(self, obj, *, by):
        services.delete_source(obj, by=by)


@admin.register(Account)
class AccountAdmin(AuditedAdmin):
    list_display = ("__str__", "name", "is_active")
    list_filter = ("source",)

    def save_audited(self, obj, *, by):
        services.save_account(obj, by=by)

    def delete_audited(self, obj, *, by):
        services.delete_account(obj, by=by)


class AssetAliasForm(forms.ModelForm):
    """The service's own checks, shown on the form (not as an error page after saving)."""

    class Meta:
        model = AssetAlias
        fields = ["exchange", "code", "asset"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            alias = self.instance if self.instance.pk else None
            found = services.alias_problems(**{f: data[f] for f in self.Meta.fields}, alias=alias)
            for field, problems in found.items():
                for problem in problems:
                    self.add_error(field, problem)
        return data


@admin.register(AssetAlias)
class AssetAliasAdmin(AuditedAdmin):
    form = AssetAliasForm
    list_display = ("exchange", "code", "asset")

    def save_audited(self, obj, *, by):
        # The service compares with the stored alias, not with the form's already changed copy.
        stored = AssetAlias.objects.get(pk=obj.pk) if obj.pk else None
        fields = {"exchange": obj.exchange, "code": obj.code, "asset": obj.asset}
        obj.pk = services.save_alias(**fields, by=by, alias=stored).pk

    def delete_audited(self, obj, *, by):
        services.delete_alias(obj, by=by)


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Datasets are immutable (the database refuses changes too)."""

    list_display = ("id", "kind", "format", "source", "account", "row_count", "created_at")
    list_filter = ("kind", "source")


class CredentialForm(forms.ModelForm):
    """Write-only: the stored values are never rendered back into the page."""

    api_key = forms.CharField(widget=forms.PasswordInput(render_value=False))
    secret = forms.CharField(widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = ExchangeCredential
        fields = ["account"]


@admin.register(ExchangeCredential)
class ExchangeCredentialAdmin(admin.ModelAdmin):
    form = CredentialForm
    list_display = ("account", "updated_at", "updated_by")

    def save_model(self, request, obj, form, change):
        credentials.store(
            form.cleaned_data["account"],
            api_key=form.cleaned_data["api_key"],
            secret=form.cleaned_data["secret"],
            by=request.user,
        )
        stored = ExchangeCredential.objects.get(account=form.cleaned_data["account"])
        obj.pk, obj.updated_at = stored.pk, stored.updated_at
