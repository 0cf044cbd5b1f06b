"""Django admin for sources, accounts, asset codes and credentials (values never shown)."""

from django import forms
from django.contrib import admin

from config.read_only_admin import ReadOnlyAdmin
from reconciliation import credentials, schedule_admin  # noqa: F401 (beat's admin, read-only)
from reconciliation.models import Account, AssetAlias, Dataset, ExchangeCredential, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "exchange")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("__str__", "name", "is_active")
    list_filter = ("source",)


@admin.register(AssetAlias)
class AssetAliasAdmin(admin.ModelAdmin):
    list_display = ("exchange", "code", "asset")


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
