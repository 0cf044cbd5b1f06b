from django import forms

from reconciliation.ingest import FORMATS
from reconciliation.models import Account, AssetAlias, Source


class UploadForm(forms.Form):
    source = forms.ModelChoiceField(Source.objects.all(), to_field_name="code")
    account = forms.ModelChoiceField(
        Account.objects.select_related("source"),
        required=False,
        help_text="Leave empty only for prices.",
    )
    format = forms.ChoiceField(choices=[(f.code, f.label) for f in FORMATS.values()])
    file = forms.FileField()


class AliasForm(forms.ModelForm):
    class Meta:
        model = AssetAlias
        fields = ["exchange", "code", "asset"]
