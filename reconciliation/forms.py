from django import forms

from reconciliation import ingest
from reconciliation.ingest import FORMATS
from reconciliation.models import Account, AssetAlias, Source


class AccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Account) -> str:
        # Which exchange's files the account takes (ingest.takes_files_of decides).
        takes = obj.source.get_exchange_display() if obj.source.exchange else "any exchange"
        if obj.source.kind not in ingest.HOLDING_KINDS and not obj.source.exchange:
            takes = obj.source.get_kind_display().lower()
        return f"{obj} ({takes})"


class UploadForm(forms.Form):
    source = forms.ModelChoiceField(Source.objects.all(), to_field_name="code")
    account = AccountChoiceField(
        Account.objects.select_related("source"),
        required=False,
        help_text="Leave empty only for prices. An exchange's files load only into an account "
        "of that exchange, or of a source that names no exchange (any exchange).",
    )
    format = forms.ChoiceField(choices=[(f.code, f.label) for f in FORMATS.values()])
    file = forms.FileField()


class AliasForm(forms.ModelForm):
    class Meta:
        model = AssetAlias
        fields = ["exchange", "code", "asset"]
