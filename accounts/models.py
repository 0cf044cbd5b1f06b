"""Accounts: users are Django's; roles are groups; capabilities are permissions on `Capability`."""

from django.db import models

from accounts.roles import CAPABILITIES


class Capability(models.Model):
    """Holds the capability permissions; it has no table and no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = sorted(CAPABILITIES.items())

    def __str__(self) -> str:
        return "capability"
