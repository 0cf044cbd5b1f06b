"""API tokens: hashed (knox), named, expiring, shown once, revoked through an audited service."""

from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts import api_tokens
from accounts.models import ApiToken
from audit.models import AuditEvent
from tests.accounts.token_clients import api_with
from tests.api_tokens import token_for

pytestmark = pytest.mark.django_db


def tables_holding(text: str) -> list[str]:
    """Every table of the database with a row whose text form contains `text`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()"
        )
        tables = [row[0] for row in cursor.fetchall()]
        found = []
        for table in tables:
            cursor.execute(f"SELECT 1 FROM {table} AS t WHERE strpos(t::text, %s) > 0", [text])  # noqa: S608
            if cursor.fetchone():
                found.append(table)
    return found


def redis_values_holding(text: str) -> list[str]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for key in client.scan_iter("recondesk:*"):
        if client.type(key) == b"string" and text.encode() in (client.get(key) or b""):
            found.append(key.decode())
    return found


def test_a_token_works_in_the_header_clients_already_use(make_user):
    user = make_user("risk")
    response = api_with(token_for(user)).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_the_database_holds_only_a_digest_of_the_token(make_user):
    user = make_user("risk")
    token, secret = api_tokens.create_api_token(user, name="ledger", days=30, by=user)
    assert secret.startswith("rd_") and len(secret) == 3 + 64
    assert tables_holding(secret) == []
    # knox keeps the first characters to find the row; the rest of the token is nowhere.
    assert tables_holding(secret[15:]) == []
    assert token.digest != secret and secret not in token.digest


def test_an_expired_token_is_refused_with_401(make_user):
    user = make_user("risk")
    secret = token_for(user)
    ApiToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    response = api_with(secret).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_token_expires_after_the_days_it_was_given(make_user):
    user = make_user("risk")
    before = timezone.now()
    token, _secret = api_tokens.create_api_token(user, name="export", days=7, by=user)
    assert before + timedelta(days=7) <= token.expiry <= timezone.now() + timedelta(days=7)
    default, _secret = api_tokens.create_api_token(user, name="other", by=user)
    assert default.expiry - default.created == pytest.approx(
        timedelta(days=settings.API_TOKEN_DAYS), abs=timedelta(seconds=5)
    )


def test_a_deactivated_users_token_is_refused(make_user):
    user = make_user("risk")
    secret = token_for(user)
    user.is_active = False
    user.save()
    assert api_with(secret).get("/api/me/").status_code == 401


def test_creating_a_token_is_audited_without_the_token(make_user):
    user = make_user("finance")
    token, secret = api_tokens.create_api_token(user, name="bi tool", days=10, by=user)
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor_label == user.username
    assert event.object_id == str(token.pk)
    assert event.after["name"] == "bi tool" and event.after["user"] == user.username
    assert event.after["starts_with"] == secret[:11] + "…"


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [
        ("", 30, "name"),
        ("   ", 30, "name"),
        ("x" * 101, 30, "name"),
        ("tab\there", 30, "name"),
        ("ok", 0, "days"),
        ("ok", 366, "days"),
        ("ok", -1, "days"),
    ],
)
def test_bad_names_and_lifetimes_are_refused_and_change_nothing(make_user, name, days, field):
    user = make_user("risk")
    events = AuditEvent.objects.count()
    with pytest.raises(api_tokens.ApiTokenInvalid) as refused:
        api_tokens.create_api_token(user, name=name, days=days, by=user)
    assert field in refused.value.fields
    assert ApiToken.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_two_tokens_of_one_user_cannot_share_a_name(make_user):
    user = make_user("risk")
    api_tokens.create_api_token(user, name="ledger", days=30, by=user)
    with pytest.raises(api_tokens.ApiTokenInvalid, match="not created"):
        api_tokens.create_api_token(user, name="ledger", days=30, by=user)
    assert ApiToken.objects.filter(user=user).count() == 1
    api_tokens.create_api_token(make_user("risk"), name="ledger", days=30, by=user)


def test_a_user_has_at_most_the_configured_number_of_tokens(make_user, settings):
    settings.API_TOKENS_PER_USER = 2
    user = make_user("risk")
    token_for(user)
    token_for(user)
    with pytest.raises(api_tokens.ApiTokenInvalid, match="already has 2 tokens"):
        token_for(user)
    assert ApiToken.objects.filter(user=user).count() == 2


# --- the page -------------------------------------------------------------------------------


def new_token_on_the_page(client, name="ledger", days="30"):
    # One form token: a second call is the same form sent again.
    return client.post("/accounts/tokens/", {"name": name, "days": days, "form_token": "page-1"})


def test_the_tokens_page_shows_a_new_token_once(client, make_user):
    user = make_user("risk")
    client.force_login(user)
    response = new_token_on_the_page(client)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    page = response.content.decode()
    secret = page.split('id="new-token" type="text" readonly value="')[1].split('"')[0]
    assert secret.startswith(token.token_key)
    assert api_with(secret).get("/api/me/").status_code == 200

    listing = client.get("/accounts/tokens/").content.decode()
    assert "ledger" in listing and token.starts_with in listing
    assert secret not in listing and secret[15:] not in listing
    # The same form sent again (Back and send, a double click) is not shown the token again...
    again = new_token_on_the_page(client)
    assert again.status_code == 200 and again["Form-Replayed"] == "true"
    assert secret not in again.content.decode()
    assert ApiToken.objects.filter(user=user).count() == 1
    # ...and the token is kept nowhere: not in the database, not with the form's outcome.
    assert tables_holding(secret) == []
    assert redis_values_holding(secret) == []


def test_a_bad_form_on_the_tokens_page_says_why_and_creates_nothing(client, make_user):
    client.force_login(make_user("risk"))
    response = new_token_on_the_page(client, name="", days="9999")
    assert response.status_code == 400
    page = response.content.decode()
    assert "This field is required." in page
    assert "less than or equal to 365" in page
    assert ApiToken.objects.count() == 0


def test_the_tokens_page_lists_only_ones_own_tokens(client, make_user):
    me, other = make_user("risk"), make_user("risk")
    api_tokens.create_api_token(other, name="someone else's", days=5, by=other)
    client.force_login(me)
    page = client.get("/accounts/tokens/").content.decode()
    assert "someone else" not in page and "No tokens yet." in page


def test_revoking_a_token_stops_it_and_is_audited(client, make_user):
    user = make_user("risk")
    token, secret = api_tokens.create_api_token(user, name="ledger", days=30, by=user)
    client.force_login(user)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert api_with(secret).get("/api/me/").status_code == 401
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor_label == user.username and event.object_id == str(token.pk)
    assert event.before["name"] == "ledger"


def test_nobody_revokes_another_persons_token_from_the_page(client, make_user):
    owner = make_user("risk")
    token, secret = api_tokens.create_api_token(owner, name="ledger", days=30, by=owner)
    client.force_login(make_user("risk", "finance"))
    events = AuditEvent.objects.count()
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post("/accounts/tokens/999999/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert AuditEvent.objects.count() == events
    assert api_with(secret).get("/api/me/").status_code == 200


def test_revoking_a_token_twice_says_it_is_gone(make_user):
    user = make_user("risk")
    token, _secret = api_tokens.create_api_token(user, name="ledger", days=30, by=user)
    api_tokens.revoke_api_token(token, by=user)
    with pytest.raises(api_tokens.ApiTokenNotFound):
        api_tokens.revoke_api_token(token, by=user)
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


# --- the command ----------------------------------------------------------------------------


def test_create_api_token_command_prints_the_token_once(make_user):
    user = make_user("risk", username="ledger-bot")
    out, err = StringIO(), StringIO()
    arguments = ["ledger-bot", "--name", "ledger", "--days", "14"]
    call_command("create_api_token", *arguments, stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert api_with(secret).get("/api/me/").json()["username"] == "ledger-bot"
    token = ApiToken.objects.get(user=user)
    assert token.name == "ledger"
    lifetime = token.expiry - token.created
    assert lifetime == pytest.approx(timedelta(days=14), abs=timedelta(seconds=5))
    assert "shown only now" in err.getvalue() and secret not in err.getvalue()
    assert AuditEvent.objects.get(action="api_token.created").actor_label == "system"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nobody", "--name", "x"], "No user named 'nobody'"),
        (["carol", "--name", "x", "--days", "0"], "from 1 to 365 days"),
        (["carol", "--name", " "], "Give the token a name"),
    ],
)
def test_create_api_token_command_refuses_bad_input(make_user, arguments, message):
    make_user("risk", username="carol")
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *arguments, stdout=StringIO(), stderr=StringIO())
    assert ApiToken.objects.count() == 0


def test_an_expired_tokens_name_can_be_used_again(make_user):
    user = make_user("risk")
    old, _secret = api_tokens.create_api_token(user, name="ledger", days=1, by=user)
    ApiToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    assert list(api_tokens.tokens_of(user)) == []
    new, _secret = api_tokens.create_api_token(user, name="ledger", days=1, by=user)
    assert list(ApiToken.objects.filter(user=user)) == [new]


def test_create_api_token_command_warns_when_the_user_has_no_role(make_user):
    make_user(username="newcomer")
    err = StringIO()
    call_command("create_api_token", "newcomer", "--name", "x", stdout=StringIO(), stderr=err)
    assert "has no role yet" in err.getvalue()


@pytest.mark.parametrize(
    ("days", "most", "per_user", "code"),
    [(90, 0, 20, "accounts.E001"), (400, 365, 20, "accounts.E002"), (0, 365, 20, "accounts.E002"),
     (90, 365, 0, "accounts.E003")],
)  # fmt: skip
def test_token_settings_that_would_refuse_every_token_fail_the_checks(
    settings, days, most, per_user, code
):
    from accounts.checks import api_token_lifetimes

    settings.API_TOKEN_DAYS, settings.API_TOKEN_MAX_DAYS = days, most
    settings.API_TOKENS_PER_USER = per_user
    assert [problem.id for problem in api_token_lifetimes(None)] == [code]


def test_the_default_token_settings_pass_the_checks():
    from accounts.checks import api_token_lifetimes

    assert api_token_lifetimes(None) == []


@pytest.mark.django_db(transaction=True)
def test_tokens_made_at_the_same_moment_keep_to_the_limit(make_user, settings):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    settings.API_TOKENS_PER_USER = 2
    user = make_user("risk")
    start = Barrier(6)

    def create(number: int) -> str:
        start.wait()
        try:
            api_tokens.create_api_token(user, name=f"token {number}", days=1, by=user)
            return "made"
        except api_tokens.ApiTokenInvalid:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(create, range(6)))
    assert outcomes == ["made"] * 2 + ["refused"] * 4
    assert ApiToken.objects.filter(user=user).count() == 2
    assert AuditEvent.objects.filter(action="api_token.created").count() == 2
