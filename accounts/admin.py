"""Django admin for users, roles and API tokens: nothing here goes around the audited services.

Roles change only through `services.set_roles` (the user form's *Roles* field calls it); the
superuser flag, groups and single permissions are not editable, and `is_staff` follows the admin
role. A password set here is audited (whoever sets it can sign in as that person). Role groups
are defined in code (accounts/roles.py), so they are read-only here. API tokens are listed
without any secret and can only be revoked (audited), never created or read back.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.db import transaction
from knox.models import AuthToken

from accounts import api_tokens, services
from accounts.access import has_capability
from accounts.models import ApiToken
from accounts.roles import ROLES
from config.read_only_admin import ReadOnlyAdmin

ROLES_HELP = (
    "Roles decide what this person may do (accounts/roles.py). Changes are recorded in the "
    "audit log. Staff status follows the admin role."
)


class RolesUserChangeForm(UserChangeForm):
    roles = forms.MultipleChoiceField(
        choices=[(role, role) for role in ROLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=ROLES_HELP,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            held = set(self.instance.groups.values_list("name", flat=True))
            self.fields["roles"].initial = [role for role in ROLES if role in held]


class AuditedUserAdmin(UserAdmin):
    form = RolesUserChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Roles", {"fields": ("is_active", "roles", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    # The superuser flag is set from the command line only (createsuperuser); staff status is
    # kept in step with the admin role by the role service.
    readonly_fields = ("is_staff", "is_superuser")
    filter_horizontal = ()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "roles" in form.cleaned_data:
            services.set_roles(form.instance, form.cleaned_data["roles"], by=request.user)

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            user = self.get_object(request, id)
            before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None and request.method == "POST":
                user.refresh_from_db(fields=["password"])
                if user.password != before:
                    services.record_password_set(user, by=request.user)
        return response


class RoleGroupAdmin(ReadOnlyAdmin, GroupAdmin):
    """Role groups and their permissions are defined in code and synced on every migrate."""


@admin.action(description="Revoke selected tokens", permissions=["revoke"])
def revoke_tokens(modeladmin, request, queryset):
    count = 0
    for token in queryset.select_related("user"):
        api_tokens.revoke_api_token(token, by=request.user)
        count += 1
    modeladmin.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


class ApiTokenAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Every user's tokens, without digest or token: an administrator may revoke, never use.

    Read-only: a token is made by its owner, who alone sees it (page or command), and revoking
    (audited) is the one way to remove one.
    """

    list_display = ("name", "user", "starts_with", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("name", "user__username")
    fields = ("name", "user", "starts_with", "created", "expiry")
    readonly_fields = fields
    actions = [revoke_tokens]

    # Role sync gives admins the model permissions of other apps only; this page follows the
    # capability instead, as the desk's pages do.
    def has_view_permission(self, request, obj=None):
        return has_capability(request.user, "manage_users")

    def has_module_permission(self, request):
        return has_capability(request.user, "manage_users")

    def has_revoke_permission(self, request):
        return has_capability(request.user, "manage_users")


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)
# knox registers its own token model, with the digest shown and a form that makes tokens.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)
admin.site.register(ApiToken, ApiTokenAdmin)
