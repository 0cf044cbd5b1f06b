"""The one definition of the breaks filters: the list page, its CSV export and the API read them.

Every value is checked before a query is built: a filter that cannot be applied is an error the
person sees (on the form, or a 400 with `fields`), never a silently wider list or a 500.
"""

from __future__ import annotations

from django import forms
from django.db.models import F

from config.errors import DomainError
from reconciliation.engine.types import TYPES
from reconciliation.models import Break, Source
from reconciliation.models.runs import SEVERITY_CHOICES

# Most severe first, as the list, its filter and the overview show them.
SEVERITIES = tuple(value for value, _ in reversed(SEVERITY_CHOICES))
SORTS = {
    "newest": ("-id",),
    "value": (F("value_rc").desc(nulls_last=True), "-id"),  # unvalued ones last, not first
    "age": ("first_seen_at", "id"),
    "oldest": ("id",),
}
MAX_AGE_DAYS = 36_500  # a hundred years: anything older than the data cannot be asked for
MAX_ID = 2**63 - 1  # ids are bigint


class BreakFiltersInvalid(DomainError):
    code = "invalid_filters"


class ChoiceListField(forms.CharField):
    """A comma-separated list of known values ("critical,high"); cleans to a list."""

    def __init__(self, *, choices, **kwargs):
        self.allowed = tuple(choices)
        super().__init__(required=False, max_length=500, **kwargs)

    def clean(self, value):
        text = super().clean(value)
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in self.allowed]
        if unknown:
            raise forms.ValidationError(
                f"unknown {self.label}: {', '.join(unknown)}; choose from {', '.join(self.allowed)}"
            )
        return values


class BreakFilters(forms.Form):
    """Filters of the breaks list (all optional); `sort` and `after` order and page it."""

    type = ChoiceListField(choices=TYPES, label="type")
    severity = ChoiceListField(choices=SEVERITIES, label="severity")
    status = ChoiceListField(choices=Break.Status.values, label="status")
    asset = forms.CharField(required=False, max_length=40)
    account = forms.CharField(required=False, max_length=100)
    source = forms.CharField(required=False, max_length=50)
    run = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="run #")
    age = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_AGE_DAYS, label="older than (days)"
    )
    within = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_AGE_DAYS, label="newer than (days)"
    )
    seen_on = forms.DateField(required=False, label="first seen on")
    resolved_on = forms.DateField(required=False, label="resolved on")
    q = forms.CharField(required=False, max_length=300, label="search")
    sort = forms.ChoiceField(
        required=False, choices=[("", "newest"), *((s, s) for s in SORTS)], label="sort"
    )
    after = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="after")

    def clean_source(self):
        code = self.cleaned_data["source"]
        if code and not Source.objects.filter(code=code).exists():
            known = ", ".join(Source.objects.order_by("code").values_list("code", flat=True))
            raise forms.ValidationError(f"no source {code!r}; known sources: {known or 'none'}")
        return code

    def clean_asset(self):
        return self.cleaned_data["asset"].upper()

    def clean(self):
        cleaned = super().clean()
        older, newer = cleaned.get("age"), cleaned.get("within")
        if older is not None and newer is not None and older >= newer:
            self.add_error("within", "must be more days than “older than”, or nothing is left")
        return cleaned


FILTERS = tuple(name for name in BreakFilters.base_fields if name not in ("sort", "after"))


def form(params) -> BreakFilters:
    """The filters form bound to request parameters (unknown parameters are not filters)."""
    return BreakFilters({name: params.get(name, "") for name in BreakFilters.base_fields})


def read(params) -> dict:
    """Checked filters from request parameters, or BreakFiltersInvalid naming each bad one."""
    bound = form(params)
    if not bound.is_valid():
        raise invalid(bound)
    return bound.cleaned_data


def invalid(bound: BreakFilters) -> BreakFiltersInvalid:
    fields = {name: [str(m) for m in problems] for name, problems in bound.errors.items()}
    names = ", ".join(fields)
    return BreakFiltersInvalid(f"These filters cannot be applied: {names}.", fields=fields)
