"""Every address the Django admin serves, for the access and header tests."""

from django.contrib import admin
from django.urls import reverse


def admin_urls() -> list[str]:
    """The admin's index, every app's index, and every registered model's list and add pages."""
    urls = [reverse("admin:index"), reverse("admin:password_change"), "/admin/no-such-page/"]
    urls.append(reverse("admin:login") + "?next=/admin/")
    for model in admin.site._registry:
        meta = model._meta
        app_index = reverse("admin:app_list", kwargs={"app_label": meta.app_label})
        if app_index not in urls:
            urls.append(app_index)
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    return urls


def user_admin_urls(user) -> list[str]:
    """A real object's change, history and delete pages (the user model is always registered)."""
    return [
        reverse(f"admin:auth_user_{view}", args=[user.pk])
        for view in ("change", "history", "delete")
    ]
