"""`check --deploy` warns when the application's database role could rewrite the audit log, and
refuses a missing audit signing key."""

import secrets
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from audit.checks import database_role_problems, signing_key_problems

pytestmark = pytest.mark.django_db

GOOD_KEY = "g" * 48


def ids(problems) -> set[str]:
    return {problem.id for problem in problems}


@pytest.fixture
def acting_as():
    """Switch this test's connection to a new role for the rest of its transaction."""

    def become(*, owns_audit_table: bool) -> str:
        role = f"rd_test_{secrets.token_hex(4)}"  # roles are shared by the whole server
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {role} NOSUPERUSER NOLOGIN")
            cursor.execute(f"GRANT SELECT, INSERT ON audit_auditevent TO {role}")
            if owns_audit_table:
                cursor.execute(f"ALTER TABLE audit_auditevent OWNER TO {role}")
            cursor.execute(f"SET LOCAL ROLE {role}")
        return role

    yield become
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")  # the test's transaction rolls back the role itself


def test_a_superuser_role_is_reported():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (True,)  # the test database's user is one
    problems = database_role_problems()
    assert ids(problems) == {"audit.W001"}
    assert "superuser" in problems[0].msg


def test_a_role_that_owns_the_audit_table_is_reported(acting_as):
    role = acting_as(owns_audit_table=True)
    problems = database_role_problems()
    assert ids(problems) == {"audit.W002"}
    assert role in problems[0].msg and "owns the audit table" in problems[0].msg


def test_a_role_with_only_its_grants_is_not_reported(acting_as):
    acting_as(owns_audit_table=False)
    assert database_role_problems() == []


def test_a_missing_signing_key_is_an_error(settings):
    settings.AUDIT_HMAC_KEY = ""
    assert ids(signing_key_problems()) == {"audit.E001"}


@pytest.mark.parametrize(("current", "kept"), [("short", []), (GOOD_KEY, ["old"])])
def test_a_short_signing_key_is_reported(settings, current, kept):
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEYS = current, kept
    assert ids(signing_key_problems()) == {"audit.W004"}


def test_a_long_signing_key_passes(settings):
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEYS = GOOD_KEY, ["o" * 40]
    assert signing_key_problems() == []


def test_check_deploy_shows_the_warnings_and_fails_without_a_key(settings, monkeypatch):
    # The browser tests' conftest allows async-unsafe calls for the whole session, which
    # `check --deploy` rightly reports as an error of its own.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    settings.AUDIT_HMAC_KEY = settings.WEBHOOK_SECRETS_KEY = GOOD_KEY
    out, err = StringIO(), StringIO()
    call_command("check", "--deploy", stdout=out, stderr=err)
    shown = out.getvalue() + err.getvalue()
    assert "audit.W001" in shown and "audit.E001" not in shown
    settings.AUDIT_HMAC_KEY = ""
    with pytest.raises(SystemCheckError, match=r"audit\.E001"):
        call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())


def test_plain_check_does_not_run_them(settings):
    settings.AUDIT_HMAC_KEY = ""
    out = StringIO()
    call_command("check", stdout=out, stderr=StringIO())
    assert "audit." not in out.getvalue()
