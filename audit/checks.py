"""`manage.py check --deploy`: what would let the database's administrators, or the application's
own database role, rewrite the audit log undetected.

- The application's role is a superuser: it can switch the append-only trigger off
  (`SET session_replication_role = replica`, `ALTER TABLE … DISABLE TRIGGER`).
- It owns the audit table (or is a member of the role that does): it can drop the trigger.
- AUDIT_HMAC_KEY is unset (the development key, known to everyone) or short: entries can be
  forged with a signature that verifies.

README, "Production", shows how to set up an owner role for migrations and an application role
with only the grants it needs.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connections

from audit import keys
from audit.models import AuditEvent

# The role, whether it is a superuser, and (NULL before `migrate` made the table) whether it
# owns the audit table or belongs to the role that does, and that owner's name.
ROLE_QUERY = """
SELECT r.rolname, r.rolsuper, pg_has_role(current_user, c.relowner, 'MEMBER'),
       pg_get_userbyid(c.relowner)
FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass(%s)
WHERE r.rolname = current_user
"""


def database_role_problems(alias: str = "default") -> list:
    """Warnings about the database role the application connects as."""
    table = AuditEvent._meta.db_table
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(ROLE_QUERY, [table])
            row = cursor.fetchone()
    except DatabaseError as exc:
        return [
            Warning(
                f"Could not inspect the database role: {type(exc).__name__}.",
                hint="Run `check --deploy` where the database is reachable.",
                id="audit.W003",
            )
        ]
    role, superuser, owns, owner = row
    problems = []
    if superuser:
        problems.append(
            Warning(
                f"The application's database role {role!r} is a superuser: it can switch the "
                "audit log's append-only trigger off.",
                hint="Connect as a role without SUPERUSER that does not own the audit table "
                "(README, Production).",
                id="audit.W001",
            )
        )
    if owns and not superuser:
        problems.append(
            Warning(
                f"The application's database role {role!r} owns the audit table {table} "
                f"(owner {owner!r}): it can drop or disable the append-only trigger.",
                hint="Let a separate owner role run migrations; grant the application role only "
                "SELECT and INSERT on the audit table (README, Production).",
                id="audit.W002",
            )
        )
    return problems


def signing_key_problems() -> list:
    secret = settings.AUDIT_HMAC_KEY
    if not secret:
        return [
            Error(
                "AUDIT_HMAC_KEY is not set: audit entries are signed with the development key, "
                "so anyone can forge an entry that verifies.",
                hint="Set AUDIT_HMAC_KEY to a random secret of at least "
                f"{keys.MIN_KEY_LENGTH} characters, kept outside the database "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))").',
                id="audit.E001",
            )
        ]
    kept = [s for s in settings.AUDIT_HMAC_KEYS if s]
    short = [s for s in [secret, *kept] if len(s) < keys.MIN_KEY_LENGTH]
    if short:
        return [
            Warning(
                f"An audit signing key (AUDIT_HMAC_KEY or AUDIT_HMAC_KEYS) is shorter than "
                f"{keys.MIN_KEY_LENGTH} characters: it may be guessed from the signatures.",
                hint="Rotate to a longer random key (README, Audit log signatures).",
                id="audit.W004",
            )
        ]
    return []


@register(Tags.security, Tags.database, deploy=True)
def audit_protection(app_configs=None, **kwargs) -> list:
    return signing_key_problems() + database_role_problems()
