"""Django admin for users: role changes made here are audited like any other."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from accounts import services
from accounts.access import user_roles


class AuditedUserAdmin(UserAdmin):
    def save_related(self, request, form, formsets, change):
        before = user_roles(form.instance) if change else []
        super().save_related(request, form, formsets, change)
        services.record_role_change(form.instance, before=before, by=request.user)


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
