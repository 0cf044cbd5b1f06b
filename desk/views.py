"""The overview page: what needs attention now, for the signed-in person's roles (SPEC 6)."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.access import has_capability, requires_capability, user_roles
from accounts.roles import CAPABILITIES
from audit import selectors as audit_selectors
from config.health import collect_health
from desk import charts, selectors

LIVE = "open,investigating"


def _breaks(**params) -> str:
    return f"{reverse('breaks:list')}?{urlencode(params)}"


@requires_capability("view_overview")
def overview(request):
    runs = {
        "latest_runs": (latest := selectors.latest_runs()),
        "runs_active": selectors.any_run_active(latest),
        "can_run": has_capability(request.user, "start_runs"),
    }
    if request.GET.get("part") == "runs":  # the latest runs, polled while one is active
        return render(request, "desk/_latest_runs.html", runs)
    healthy, health = collect_health()
    found, days, as_of = selectors.break_figures()
    context = {
        "healthy": healthy,
        "checks": health["checks"],
        "roles": user_roles(request.user),
        "abilities": [
            text for name, text in CAPABILITIES.items() if has_capability(request.user, name)
        ],
        "open": found,
        "as_of": as_of,
        "charts": _charts(found, days),
        "can_upload": has_capability(request.user, "upload_datasets"),
        **runs,
    }
    if has_capability(request.user, "view_corrections"):
        context["approvals"] = selectors.approvals(request.user)
    if has_capability(request.user, "view_audit"):
        context["recent_events"] = list(audit_selectors.events()[:8])
    return render(request, "desk/overview.html", context)


def _charts(found: selectors.OpenBreaks, days: list[selectors.Day]) -> list[charts.Chart]:
    by_type = charts.horizontal(
        "Open breaks by type",
        [(g.key, g.count, _breaks(type=g.key, status=LIVE), "") for g in found.by_type],
    )
    by_age = charts.horizontal(
        "Open breaks by age (since first seen)",
        [
            (group.key, group.count, _breaks(status=LIVE, **_age(older, newer)), "")
            for group, (older, newer) in zip(found.by_age, selectors.AGE_BUCKETS, strict=True)
        ],
    )
    over_time = charts.columns(
        f"Breaks found and resolved, last {len(days)} days (UTC)",
        [(f"{d.day:%d}", f"{d.day:%a %d %b}") for d in days],
        [
            (
                "found",
                "series-found",
                [d.found for d in days],
                [_breaks(seen_on=d.day.isoformat()) for d in days],
            ),
            (
                "resolved",
                "series-resolved",
                [d.resolved for d in days],
                [_breaks(resolved_on=d.day.isoformat()) for d in days],
            ),
        ],
    )
    return [over_time, by_type, by_age]


def _age(older: int, newer: int | None) -> dict:
    found = {"age": older} if older else {}
    if newer is not None:
        found["within"] = newer
    return found
