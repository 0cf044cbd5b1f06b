"""A throw-away database on the configured server, migrated, for one benchmark run."""

from __future__ import annotations

from contextlib import contextmanager

from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections


@contextmanager
def bench_database():
    name = f"{settings.DATABASES['default']['NAME']}_bench"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    original = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = original
        connections["default"].settings_dict["NAME"] = original
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
