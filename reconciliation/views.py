"""The overview page: what needs attention now, for the signed-in user's roles."""

from django.shortcuts import render

from accounts.access import has_capability, requires_capability, user_roles
from accounts.roles import CAPABILITIES
from audit import selectors as audit_selectors
from config.health import collect_health
from reconciliation import selectors
from reconciliation.breaks import selectors as break_selectors


@requires_capability("view_overview")
def overview(request):
    healthy, health = collect_health()
    context = {
        "healthy": healthy,
        "checks": health["checks"],
        "roles": user_roles(request.user),
        "abilities": [
            text for name, text in CAPABILITIES.items() if has_capability(request.user, name)
        ],
    }
    context.update(break_selectors.overview_figures())
    context["value_at_stake"] = selectors.value_at_stake()
    if has_capability(request.user, "view_audit"):
        context["recent_events"] = list(audit_selectors.events()[:8])
    return render(request, "reconciliation/overview.html", context)
