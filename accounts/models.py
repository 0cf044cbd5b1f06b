"""Accounts: users are Django's; roles are groups; capabilities are permissions on `Capability`.

API tokens are django-rest-knox tokens with a name (`ApiToken`).
"""

from django.db import models
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS, knox_settings

from accounts.roles import CAPABILITIES


class Capability(models.Model):
    """Holds the capability permissions; it has no table and no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = sorted(CAPABILITIES.items())

    def __str__(self) -> str:
        return "capability"


class ApiToken(AbstractAuthToken):
    """A named API token (django-rest-knox): only its digest is stored, never the token.

    knox's own model has no name and its primary key is the digest; this one adds a name and a
    plain id, so pages and admin links never carry even the digest. The expiry is required.
    """

    # Not the primary key (knox's is): the id is what pages and audit entries name.
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="api_token_name_unique"),
            models.CheckConstraint(condition=~models.Q(name=""), name="api_token_named"),
            models.CheckConstraint(
                condition=models.Q(expiry__isnull=False), name="api_token_expires"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def starts_with(self) -> str:
        """The token's first characters (its prefix and 8 more): enough to tell tokens apart."""
        return self.token_key[: len(knox_settings.TOKEN_PREFIX) + 8] + "…"
