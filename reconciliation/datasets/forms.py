"""The upload and asset alias forms: accounts and formats offered with what fits them."""

from django import forms

from reconciliation.datasets import account_fit
from reconciliation.datasets.ingest import FORMATS
from reconciliation.models import Account, AssetAlias, Source


class AccountSelect(forms.Select):
    """Each account says whose exchange files it takes, for static/js/upload.js."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        account = getattr(value, "instance", None)
        if account is not None:
            option["attrs"]["data-takes"] = account_fit.exchange_files_taken(account.source)
            option["attrs"]["data-source"] = account.source.code
        return option


class FormatSelect(forms.Select):
    """Each format says whose exchange it belongs to ('' for the book and prices)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in FORMATS:
            option["attrs"]["data-exchange"] = FORMATS[value].exchange
        return option


class UploadForm(forms.Form):
    source = forms.ModelChoiceField(Source.objects.all(), to_field_name="code")
    account = forms.ModelChoiceField(
        Account.objects.select_related("source"),
        widget=AccountSelect,
        required=False,
        help_text="Leave empty only for prices. An exchange's files load only into an account "
        "of that exchange, or of a source that names no exchange (any exchange).",
    )
    format = forms.ChoiceField(
        choices=[(f.code, f.label) for f in FORMATS.values()], widget=FormatSelect
    )
    file = forms.FileField()


class AliasForm(forms.ModelForm):
    class Meta:
        model = AssetAlias
        fields = ["exchange", "code", "asset"]
