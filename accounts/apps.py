from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles_after_migrate(sender, using="default", **kwargs):
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from accounts.role_sync import sync_roles

    # post_migrate is sent once per app; run once, after the last app's permissions exist.
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender is not with_models[-1]:
        return
    sync_roles(
        group_model=Group, permission_model=Permission, content_type_model=ContentType, using=using
    )


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from accounts import checks  # noqa: F401 (registers the API token settings' checks)

        post_migrate.connect(_sync_roles_after_migrate)
