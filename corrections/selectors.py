"""Reading corrections: the approvals queue and its filters, one correction with its approvals,
adjustments and history, and what a person may do with it (pages, the API, commands, admin).

The filters are checked before a query is built, as the breaks list's are
(reconciliation/breaks/filters.py): a filter that cannot be applied is an error the person
sees, never a silently wider list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.access import has_capability
from audit import selectors as audit_selectors
from config.errors import DomainError
from corrections.models import LIVE, Approval, Correction, ProposalJob
from reconciliation.breaks.filters import MAX_AGE_DAYS, MAX_ID, SEVERITIES, ChoiceListField
from reconciliation.engine.types import TYPES
from reconciliation.models import Adjustment, AdjustmentSet, Break, Run
from reconciliation.selectors import accessible

S = Correction.Status
MAX_AMOUNT = Decimal("1e20")  # larger than any MONEY column holds (max_digits 38, 18 places)


class CorrectionFiltersInvalid(DomainError):
    code = "invalid_filters"


class CorrectionFilters(forms.Form):
    """Filters of the approvals queue and the API's list (all optional); `after` pages it."""

    status = ChoiceListField(choices=S.values, label="status")
    severity = ChoiceListField(choices=SEVERITIES, label="severity")
    type = ChoiceListField(choices=TYPES, label="run type")
    asset = forms.CharField(required=False, max_length=40)
    run = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="run #")
    age = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_AGE_DAYS, label="older than (days)"
    )
    within = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_AGE_DAYS, label="newer than (days)"
    )
    automatic = forms.ChoiceField(
        required=False, choices=[("", "either"), ("yes", "approved automatically"),
                                 ("no", "approved by people")], label="automatic",
    )  # fmt: skip
    mine = forms.ChoiceField(
        required=False, choices=[("", "everyone's"), ("proposed", "proposed by me"),
                                 ("to_approve", "waiting for my approval")], label="mine",
    )  # fmt: skip
    min_impact = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_AMOUNT, label="impact at least"
    )
    max_impact = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_AMOUNT, label="impact at most"
    )
    after = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="after")

    def clean_asset(self):
        asset = self.cleaned_data["asset"]
        if any(ord(char) < 32 for char in asset):
            raise forms.ValidationError("must not contain control characters")
        return asset.upper()

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_impact"), cleaned.get("max_impact")
        if low is not None and high is not None and low > high:
            self.add_error("max_impact", "must not be below the lowest impact asked for")
        return cleaned


FILTERS = tuple(name for name in CorrectionFilters.base_fields if name != "after")
# The queue shows what waits for an approver unless another status is asked for.
QUEUE_STATUS = S.PENDING


def form(params, *, default_status: str = "") -> CorrectionFilters:
    """The filters bound to request parameters (unknown parameters are not filters)."""
    data = {name: params.get(name, "") for name in CorrectionFilters.base_fields}
    if "status" not in params:
        data["status"] = default_status
    return CorrectionFilters(data)


def read(params, *, default_status: str = "") -> dict:
    """Checked filters, or CorrectionFiltersInvalid naming each bad one (`fields`)."""
    bound = form(params, default_status=default_status)
    if not bound.is_valid():
        fields = {name: [str(m) for m in problems] for name, problems in bound.errors.items()}
        names = ", ".join(fields)
        raise CorrectionFiltersInvalid(f"These filters cannot be applied: {names}.", fields=fields)
    return bound.cleaned_data


# What a list of corrections shows beside each: its break, who proposed it.
LISTED_WITH = ("break_record", "created_by", "run", "account__source")


def corrections(filters: dict, *, user=None) -> QuerySet[Correction]:
    """Corrections matching checked filters (`read`), newest first; empty ones not applied.
    `mine` is read for `user` (the person asking): none without one."""
    queryset = Correction.objects.select_related(*LISTED_WITH).order_by("-id")
    queryset = _mine(queryset, filters.get("mine"), user)
    if filters.get("status"):
        queryset = queryset.filter(status__in=filters["status"])
    if filters.get("severity"):
        queryset = queryset.filter(break_record__severity__in=filters["severity"])
    if filters.get("type"):
        queryset = queryset.filter(type__in=filters["type"])
    if filters.get("asset"):
        queryset = queryset.filter(asset=filters["asset"])
    if filters.get("run") is not None:
        queryset = queryset.filter(run_id=filters["run"])
    if filters.get("age") is not None:
        queryset = queryset.filter(created_at__lte=timezone.now() - timedelta(days=filters["age"]))
    if filters.get("within") is not None:
        queryset = queryset.filter(
            created_at__gt=timezone.now() - timedelta(days=filters["within"])
        )
    if filters.get("automatic"):
        queryset = queryset.filter(auto_approved=filters["automatic"] == "yes")
    if filters.get("min_impact") is not None:
        queryset = queryset.filter(impact_rc__gte=filters["min_impact"])
    if filters.get("max_impact") is not None:
        queryset = queryset.filter(impact_rc__lte=filters["max_impact"])
    return queryset


def _mine(queryset: QuerySet[Correction], mine: str, user) -> QuerySet[Correction]:
    """`proposed`: those `user` proposed; `to_approve`: pending ones `user` may approve (not
    theirs, not approved by them as they stand: approval_refusal's checks)."""
    if not mine:
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    if mine == "proposed":
        return queryset.filter(created_by=user)
    if not has_capability(user, "approve_corrections"):
        return queryset.none()
    approved = Approval.objects.filter(
        correction=OuterRef("pk"), approver=user, content_hash=OuterRef("content_hash")
    )
    return queryset.filter(status=S.PENDING).exclude(created_by=user).exclude(Exists(approved))


def correction_page(filters: dict, *, size: int, user=None) -> tuple[list[Correction], int | None]:
    """One page, newest first, and the id the next page starts after (None: the last).

    Keyset paging (`after`: ids below it), as the breaks list pages: no OFFSET.
    """
    queryset = corrections(filters, user=user)
    if filters.get("after") is not None:
        queryset = queryset.filter(pk__lt=filters["after"])
    page = list(queryset[: size + 1])
    return page[:size], page[size - 1].pk if len(page) > size else None


def access_correction(user, correction_id) -> Correction:
    """The correction if `user` may see it; a missing and a forbidden one give the same 404."""
    queryset = Correction.objects.select_related(
        "break_record", "run", "created_by", "account__source", "dataset", "applied_set",
        "reversal_set", "supersedes",
    )  # fmt: skip
    return accessible(user, queryset, correction_id, "correction", "view_corrections")


def access_run(user, run_id) -> Run:
    return accessible(user, Run.objects.all(), run_id, "run", "view_corrections")


def by_ids(ids) -> list[Correction]:
    """The corrections with these ids (those that exist), in id order."""
    return list(Correction.objects.filter(pk__in=list(ids)).order_by("pk"))


def of_break(brk: Break) -> QuerySet[Correction]:
    """The break's corrections, newest first."""
    return Correction.objects.filter(break_record=brk).select_related("created_by").order_by("-id")


def live_of_break(brk: Break) -> Correction | None:
    return of_break(brk).filter(status__in=LIVE).first()


def approvals(correction: Correction):
    return correction.approvals.select_related("approver").order_by("id")


@dataclass(frozen=True)
class AdjustmentSetShown:
    adjustment_set: AdjustmentSet
    role: str  # "applied" or "reversal"
    adjustments: list[Adjustment]


def adjustment_sets(correction: Correction) -> list[AdjustmentSetShown]:
    """The sets the correction wrote to the book (applying it, reversing it), with their rows."""
    sets = [(correction.applied_set, "applied"), (correction.reversal_set, "reversal")]
    sets = [(s, role) for s, role in sets if s is not None]
    rows: dict[int, list[Adjustment]] = {}
    for row in Adjustment.objects.filter(adjustment_set__in=[s for s, _ in sets]).order_by("id"):
        rows.setdefault(row.adjustment_set_id, []).append(row)
    return [AdjustmentSetShown(s, role, rows.get(s.pk, [])) for s, role in sets]


def history(correction: Correction, limit: int = 100):
    """The correction's audit trail, newest first."""
    return audit_selectors.events(object_type="correction", object_id=str(correction.pk))[:limit]


def approval_refusal(user, correction: Correction) -> str:
    """Why `user` may not approve the correction now ("" when they may): the checks the service
    makes, read without a lock (the service checks again under its lock)."""
    if not has_capability(user, "approve_corrections"):
        return "Your role does not approve corrections."
    if correction.status != S.PENDING:
        return f"It is {correction.get_status_display().lower()}, not pending."
    if correction.created_by_id is not None and correction.created_by_id == user.pk:
        return "You proposed it: someone else must approve it (four eyes)."
    if correction.approvals.filter(approver=user, content_hash=correction.content_hash).exists():
        return "You have approved it already: it needs another person's approval."
    return ""


@dataclass(frozen=True)
class Allowed:
    """What a person may do with one correction now, and why not approve when they may not."""

    approve: bool
    reject: bool
    apply: bool
    roll_back: bool
    approve_refusal: str

    @property
    def any(self) -> bool:
        return self.approve or self.reject or self.apply or self.roll_back


def allowed(user, correction: Correction) -> Allowed:
    deciding = has_capability(user, "approve_corrections")
    refusal = approval_refusal(user, correction)
    return Allowed(
        approve=not refusal,
        reject=deciding and correction.status in (S.PENDING, S.APPROVED),
        apply=deciding and correction.status == S.APPROVED,
        roll_back=deciding and correction.status == S.APPLIED,
        approve_refusal=refusal,
    )


def approvable_ids(user, corrections_shown) -> set[int]:
    """Of the corrections shown, those `user` may approve (the queue's selectable rows)."""
    if not has_capability(user, "approve_corrections"):
        return set()
    pending = [c for c in corrections_shown if c.status == S.PENDING and c.created_by_id != user.pk]
    approved_already = set(
        Correction.objects.filter(
            pk__in=[c.pk for c in pending], approvals__approver=user,
            approvals__content_hash=F("content_hash"),
        ).values_list("pk", flat=True)
    )  # fmt: skip
    return {c.pk for c in pending} - approved_already


def may_propose(user, brk: Break) -> str:
    """Why `user` may not propose a correction of `brk` now ("" when they may)."""
    if not has_capability(user, "propose_corrections"):
        return "Your role does not propose corrections."
    if brk.status not in (Break.Status.OPEN, Break.Status.INVESTIGATING):
        return f"The break is {brk.status}: only a live break is corrected."
    live = live_of_break(brk)
    if live is not None:
        return f"Correction {live.pk} of this break is {live.get_status_display().lower()}."
    return ""


def run_counts(run: Run) -> dict[str, int]:
    """How many of the run's corrections are in each status."""
    counts = dict(Correction.objects.filter(run=run).values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in S.values}


def ended_badly_proposals(run: Run):
    """The run's automatic-corrections job if it failed or was given up (None otherwise)."""
    return ProposalJob.objects.filter(
        run=run, status__in=[ProposalJob.Status.FAILED, ProposalJob.Status.GIVEN_UP]
    ).first()


def user_named(username: str):
    """The active user of that name, or None (who a command acts as)."""
    return get_user_model().objects.filter(username=username, is_active=True).first()


def run_by_id(run_id: int) -> Run | None:
    return Run.objects.filter(pk=run_id).first()
