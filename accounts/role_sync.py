"""Creates the role groups and their permissions; shared by the migration and `post_migrate`."""

from accounts.roles import ADMIN, CAPABILITIES, ROLE_CAPABILITIES


def sync_roles(*, group_model, permission_model, content_type_model, using="default") -> None:
    """Make the role groups hold exactly their capabilities (admins also every model permission).

    Runs from migration 0002 (historical models) and after every `migrate` or `flush` (model
    permissions only exist after migrations, and a flush empties the groups' tables).
    """
    content_type, _ = content_type_model.objects.using(using).get_or_create(
        app_label="accounts", model="capability"
    )
    capabilities = {}
    for codename, name in CAPABILITIES.items():
        capabilities[codename], _ = permission_model.objects.using(using).update_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    model_permissions = list(
        permission_model.objects.using(using).exclude(content_type__app_label="accounts")
    )
    for role, names in ROLE_CAPABILITIES.items():
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        wanted = [capabilities[name] for name in sorted(names)]
        if role == ADMIN:
            wanted += model_permissions  # admins use Django admin
        group.permissions.set(wanted)
