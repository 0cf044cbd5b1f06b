from django.apps import AppConfig
from django.db.models.signals import post_migrate


def grant_admin_model_permissions(sender, using="default", **kwargs):
    """Admins use Django admin: give their group every model permission (not capabilities).

    Model permissions are created after migrations run, so this follows each `migrate`.
    """
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import ADMIN, ROLE_CAPABILITIES

    group = Group.objects.using(using).filter(name=ADMIN).first()
    if group is None:
        return
    model_permissions = Permission.objects.using(using).exclude(content_type__app_label="accounts")
    wanted = set(model_permissions) | set(
        Permission.objects.using(using).filter(
            content_type__app_label="accounts", codename__in=ROLE_CAPABILITIES[ADMIN]
        )
    )
    group.permissions.set(wanted)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        post_migrate.connect(grant_admin_model_permissions, sender=self)
