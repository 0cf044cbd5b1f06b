"""Navigation: each role sees only what it may use."""

from django.urls import reverse

from accounts.access import capabilities_of, user_roles

# (label, url name, capability needed or None for any role)
NAVIGATION = [
    ("Overview", "overview", "view_overview"),
    ("Breaks", "breaks:list", "view_breaks"),
    ("Corrections", "corrections:queue", "view_corrections"),
    ("Runs", "runs:list", "view_breaks"),
    ("Reports", "reports:list", "view_reports"),
    ("Datasets", "datasets:list", "view_breaks"),
    ("Upload", "datasets:upload", "upload_datasets"),
    ("Rule sets", "rules:list", "view_breaks"),
    ("Schedules", "schedules:list", "manage_schedules"),
    ("Asset codes", "datasets:aliases", "manage_sources"),
    ("Audit log", "audit:log", "view_audit"),
    ("API", "api-docs", None),
    ("API tokens", "accounts:tokens", None),
    ("Admin", "admin:index", "manage_users"),
]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else []
    if not roles:
        return {"nav_items": [], "user_role_names": []}
    capabilities = capabilities_of(user)
    items = []
    for label, url_name, capability in NAVIGATION:
        if capability is None or capability in capabilities:
            url = reverse(url_name)
            items.append({"label": label, "url": url, "active": request.path == url})
    return {"nav_items": items, "user_role_names": roles, "user_capabilities": capabilities}
