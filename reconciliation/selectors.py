"""Read queries shared by pages, the API and commands."""

from __future__ import annotations

from django.db.models import QuerySet

from config.errors import DomainError
from config.query import check_filters, is_id
from reconciliation.engine import rule_definition as definitions
from reconciliation.engine.types import TYPES
from reconciliation.models import Account, Dataset, RuleSet, RuleSetVersion, Source


class NotFound(DomainError):
    code = "not_found"


def source_named(code: str) -> Source:
    source = Source.objects.filter(code=code).first()
    if source is None:
        known = ", ".join(Source.objects.values_list("code", flat=True)) or "none yet"
        raise NotFound(
            f"No source {code!r} (known: {known}). Create it with "
            "`manage.py add_account SOURCE ACCOUNT` or in Django admin."
        )
    return source


def account_named(source: Source, code: str) -> Account:
    account = Account.objects.filter(source=source, code=code).first()
    if account is None:
        known = ", ".join(source.accounts.values_list("code", flat=True)) or "none yet"
        raise NotFound(f"No account {code!r} at {source.code} (known: {known}).")
    return account


def account_by_label(label: str) -> Account:
    """An account from `source/account`, or from a bare account code if only one source has it."""
    if "/" in label:
        source_code, _, code = label.partition("/")
        return account_named(source_named(source_code), code)
    matches = list(Account.objects.filter(code=label).select_related("source")[:2])
    if len(matches) != 1:
        raise NotFound(
            f"{'No' if not matches else 'More than one'} account named {label!r}: "
            "write it as SOURCE/ACCOUNT."
        )
    return matches[0]


def datasets(
    *, kind: str = "", source: str = "", account: str = "", format_code: str = ""
) -> QuerySet[Dataset]:
    check_filters(
        choices={"kind": set(Dataset.Kind.values)},
        kind=kind,
        source=source,
        account=account,
        format=format_code,
    )
    queryset = Dataset.objects.select_related("source", "account", "loaded_by")
    if kind:
        queryset = queryset.filter(kind=kind)
    if source:
        queryset = queryset.filter(source__code=source)
    if account:
        queryset = queryset.filter(account__code=account)
    if format_code:
        queryset = queryset.filter(format=format_code)
    return queryset.order_by("-created_at", "-id")


def accessible(user, queryset, object_id, label: str, capability: str = "view_breaks"):
    """The object if `user` may see it; a missing and a forbidden one give the same 404."""
    from accounts.access import has_capability

    found = None
    # isdigit alone lets "²" through, which int() then refuses with a 500.
    if has_capability(user, capability) and is_id(str(object_id)):
        found = queryset.filter(pk=int(object_id)).first()
    if found is None:
        raise NotFound(f"No {label} {object_id}.")
    return found


def access_dataset(user, dataset_id) -> Dataset:
    return accessible(user, Dataset.objects.select_related("source", "account"), dataset_id,
                      "dataset")  # fmt: skip


def access_rule_set(user, rule_set_id) -> RuleSet:
    return accessible(user, RuleSet.objects.all(), rule_set_id, "rule set")


def access_version(user, version_id) -> RuleSetVersion:
    return accessible(user, RuleSetVersion.objects.select_related("rule_set"), version_id,
                      "rule set version")  # fmt: skip


class ComparisonInvalid(DomainError):
    code = "comparison_invalid"


def versions_to_compare(user, old_id, new_id) -> tuple[RuleSetVersion, RuleSetVersion]:
    """The two versions `old` and `new` named by id; a 400 naming what is missing or not an id."""
    problems = {
        name: ["is required: the id of a rule set version" if not value else "must be a version id"]
        for name, value in (("old", old_id), ("new", new_id))
        if not is_id(str(value or ""))
    }
    if problems:
        raise ComparisonInvalid(
            "Choose two rule set versions to compare (old and new, by id).", fields=problems
        )
    return access_version(user, old_id), access_version(user, new_id)


def dataset_records(dataset: Dataset, *, asset: str = "") -> QuerySet:
    """The dataset's records, those in `asset` only when given (as asset, base, quote or fee)."""
    from django.db.models import Q

    from reconciliation.models.datasets import RECORD_MODELS

    check_filters(asset=asset)
    records = RECORD_MODELS[dataset.kind].objects.filter(dataset=dataset)
    search = asset.strip().upper()
    if search:
        names = {f.name for f in records.model._meta.fields}
        query = Q()
        for name in ("asset", "base", "quote", "fee_asset"):
            if name in names:
                query |= Q(**{name: search})
        records = records.filter(query)
    return records


def runs(*, type_: str = "", status: str = "") -> QuerySet:
    """Runs, newest first, of one type and/or status."""
    from reconciliation.models import Run

    choices = {"type": set(TYPES), "status": set(Run.Status.values)}
    check_filters(choices=choices, type=type_, status=status)
    queryset = Run.objects.all()
    if type_:
        queryset = queryset.filter(type=type_)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def rule_sets() -> QuerySet[RuleSet]:
    return RuleSet.objects.prefetch_related("versions")


def stored_version(version_id: int) -> RuleSetVersion | None:
    """The version as stored now, or None when it was discarded meanwhile."""
    return RuleSetVersion.objects.select_related("rule_set").filter(pk=version_id).first()


def rule_set_named(name: str) -> RuleSet | None:
    if "\x00" in name:  # PostgreSQL refuses a NUL in text; no rule set can have one
        return None
    return RuleSet.objects.filter(name=name.strip()).first()


def rule_definition(version: RuleSetVersion) -> definitions.RuleDefinition:
    """A stored version's definition, read (published versions were validated when saved)."""
    return definitions.validate(version.definition)


def latest_published(rule_set: RuleSet) -> RuleSetVersion | None:
    return rule_set.versions.filter(status="published").order_by("-number").first()


def other_versions(version: RuleSetVersion):
    """The rule set's other versions, newest first."""
    return version.rule_set.versions.exclude(pk=version.pk).order_by("-number")


def latest_version(rule_set: RuleSet) -> RuleSetVersion | None:
    return rule_set.versions.order_by("-number").first()


def published_rule_sets() -> list[RuleSet]:
    """Rule sets with at least one published version (what a run or schedule can be judged by)."""
    return list(RuleSet.objects.filter(versions__status="published").distinct())


def run_types() -> tuple[str, ...]:
    """The run types' names in the engine's order (for the doors' choices and filters)."""
    return tuple(TYPES)


def dataset_page(filters: dict, *, before: str = "", size: int = 50) -> tuple[list, int | None]:
    """One page of datasets, newest first, starting below id `before`; and where the next
    (older) page starts, or None."""
    found = datasets(**filters)
    if before.isdigit():
        found = found.filter(id__lt=int(before))
    page = list(found[: size + 1])
    return page[:size], page[size - 1].pk if len(page) > size else None


def asset_aliases():
    from reconciliation.models import AssetAlias

    return AssetAlias.objects.all()


def price_feeds():
    return Source.objects.filter(kind="price_feed")


def recent_runs(limit: int = 50) -> list:
    return list(runs().select_related("internal_dataset", "external_dataset")[:limit])


def rule_sets_with_versions():
    return RuleSet.objects.prefetch_related("versions__created_by", "versions__published_by")


def no_records():
    """An empty record queryset (the API schema's stand-in for a dataset's records)."""
    from reconciliation.models.datasets import RECORD_MODELS

    return RECORD_MODELS["trades"].objects.none()
