"""Changing the audit log behind the application's back, as an attacker with SQL would."""

from django.db import connection


def tamper(sql: str, params=()) -> None:
    """Run SQL with the append-only trigger switched off, as an attacker with DB access could."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE needs no pending FK checks
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
