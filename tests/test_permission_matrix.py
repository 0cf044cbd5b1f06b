"""The permission matrix, complete: for every page and API endpoint the URL configuration serves,
and for anonymous, a signed-in user without a role, risk, finance and admin, the status each gets.

The routes come from walking the resolver, so a new URL without an entry in MATRIX fails
`test_every_route_has_an_entry_in_the_matrix`. What each role may do is written out here from
the product's rules (accounts/roles.py, SPEC 6, DESIGN), not read from the views, so a view that
asks for the wrong capability fails its case. tests/test_access_matrix.py keeps the hand-written
"nothing changed" checks of the refusals; this file is about who reaches which door.

How the doors answer (accounts/middleware.py, accounts/access.py):
- a page, anonymous: a redirect to sign-in (a POST too, with `session_ended`); signed in without
  a role: the "no access" page, 403; a role without the page's capability: 403;
- the API, anonymous: 401 (knox's token authentication comes first and names its scheme);
  without a role or the capability: 403;
- an object that is someone else's (an import job, an API token) is a 404, as a missing one.
An allowed read must answer exactly its status (200 mostly); an allowed write only has to get
past the permission check: not 401/403, not 404/405 (which would mean the request never
reached the object or the handler), never a 5xx. The bodies sent are empty on purpose: a 400 or
422 from an allowed role is a pass, and nothing is ever really created.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts import api_tokens
from accounts import services as account_services
from corrections import services as corrections
from reconciliation.demo import data as demo_data
from reconciliation.models import Account, AssetAlias, Break, Dataset, RuleSet
from reconciliation.models.imports import ImportJob
from reconciliation.rules import services as rule_sets
from reconciliation.schedules import services as schedules
from reports import building, packs
from reports import services as reports
from reports.scope import Wanted
from tests.api_tokens import token_for
from tests.demo_runs import finished_position_run
from tests.users import new_user

pytestmark = pytest.mark.django_db

RISK, FINANCE, ADMIN = "risk", "finance", "admin"
ALL = (RISK, FINANCE, ADMIN)
WHO = ("anonymous", "no_role", RISK, FINANCE, ADMIN)
WRITES = ("POST", "PUT", "PATCH", "DELETE")

# What a case expects besides an exact status.
SIGN_IN = "redirect to sign-in"
ACTS = "gets past the permission check"
# /healthz answers the system's health (503 while no worker beats, as in tests), the same to
# everyone: the status is not a permission, only the door being open to all is.
HEALTH = frozenset({200, 503})


def _door(kind: str, allowed, *, read: bool, status: int = 200, **overrides) -> dict:
    refused_anonymous = SIGN_IN if kind == "page" else 401
    expected = {"anonymous": refused_anonymous, "no_role": 403}
    for role in ALL:
        expected[role] = (status if read else ACTS) if role in allowed else 403
    expected.update(overrides)
    return expected


def page_read(*allowed, status: int = 200, **overrides) -> dict:
    return _door("page", allowed, read=True, status=status, **overrides)


def page_write(*allowed, **overrides) -> dict:
    return _door("page", allowed, read=False, **overrides)


def api_read(*allowed, status: int = 200, **overrides) -> dict:
    return _door("api", allowed, read=True, status=status, **overrides)


def api_write(*allowed, **overrides) -> dict:
    return _door("api", allowed, read=False, **overrides)


def everyone(status, **overrides) -> dict:
    return {who: status for who in WHO} | overrides


# The sign-in page is public; a signed-in user (with a role or not) is sent on to the overview.
SIGN_IN_PAGE = {
    "GET": everyone(302, anonymous=200),
    "POST": everyone(302, anonymous=200),  # an empty form: shown again with its errors
}

# Who may do what (accounts/roles.py): read pages and endpoints are for all three roles; risk
# works breaks, starts runs, uploads, proposes and approves corrections, downloads reports;
# finance reads and downloads reports; admin configures rules, sources, schedules, sees the
# audit log and manages users, and (separation of duties) neither approves corrections nor
# generates or downloads reports.
MATRIX: dict[str, dict[str, dict]] = {
    # Pages.
    "": {"GET": page_read(*ALL)},
    "accounts/login/": SIGN_IN_PAGE,
    # Signing out is for any signed-in user, even one without a role (`without_role`).
    "accounts/logout/": {"POST": everyone(302, anonymous=SIGN_IN)},
    "accounts/tokens/": {"GET": page_read(*ALL), "POST": page_write(*ALL)},
    # Their own token (risk's, in the world below), or anyone's for those who manage users
    # (admin); someone else's is a 404, as a missing one.
    "accounts/tokens/<int:token_id>/revoke/": {"POST": page_write(RISK, ADMIN, finance=404)},
    "audit/": {"GET": page_read(ADMIN)},
    "audit/verify/": {"GET": page_read(ADMIN)},
    "datasets/": {"GET": page_read(*ALL)},
    "datasets/upload/": {"GET": page_read(RISK, ADMIN), "POST": page_write(RISK, ADMIN)},
    "datasets/upload/confirm/": {"POST": page_write(RISK, ADMIN)},
    # An import job is its uploader's alone (risk's here): another uploader gets a 404.
    "datasets/imports/<int:job_id>/": {"GET": page_read(RISK, ADMIN, admin=404)},
    "datasets/<int:dataset_id>/": {"GET": page_read(*ALL)},
    "datasets/<int:dataset_id>/download.csv": {"GET": page_read(*ALL)},
    "datasets/<int:dataset_id>/download.json": {"GET": page_read(*ALL)},
    "datasets/aliases/": {"GET": page_read(ADMIN), "POST": page_write(ADMIN)},
    "datasets/aliases/<int:alias_id>/": {"GET": page_read(ADMIN), "POST": page_write(ADMIN)},
    "datasets/aliases/<int:alias_id>/delete/": {"POST": page_write(ADMIN)},
    "rules/": {"GET": page_read(*ALL)},
    "rules/new/": {"POST": page_write(ADMIN)},
    "rules/<int:rule_set_id>/draft/": {"POST": page_write(ADMIN)},
    "rules/versions/<int:version_id>/": {"GET": page_read(*ALL), "POST": page_write(ADMIN)},
    "rules/versions/<int:version_id>/publish/": {"POST": page_write(ADMIN)},
    "rules/versions/<int:version_id>/discard/": {"POST": page_write(ADMIN)},
    "rules/compare/": {"GET": page_read(*ALL)},
    "runs/": {
        "GET": page_read(*ALL),
        "POST": page_write(RISK, ADMIN),
    },
    "runs/<int:run_id>/": {"GET": page_read(*ALL)},
    "runs/<int:run_id>/cancel/": {"POST": page_write(RISK, ADMIN)},
    "runs/<int:run_id>/matches.csv": {"GET": page_read(*ALL)},
    "breaks/": {"GET": page_read(*ALL)},
    "breaks/export.csv": {"GET": page_read(*ALL)},
    "breaks/bulk/": {"POST": page_write(RISK, ADMIN)},
    "breaks/<int:break_id>/": {"GET": page_read(*ALL)},
    "breaks/<int:break_id>/comments/": {"POST": page_write(RISK, ADMIN)},
    "corrections/": {"GET": page_read(*ALL)},
    "corrections/approve/": {"POST": page_write(RISK)},
    "corrections/<int:correction_id>/": {"GET": page_read(*ALL)},
    "corrections/<int:correction_id>/approve/": {"POST": page_write(RISK)},
    "corrections/<int:correction_id>/reject/": {"POST": page_write(RISK)},
    "corrections/<int:correction_id>/apply/": {"POST": page_write(RISK)},
    "corrections/<int:correction_id>/roll-back/": {"POST": page_write(RISK)},
    "corrections/propose/<int:break_id>/": {
        "GET": page_read(RISK, ADMIN),
        "POST": page_write(RISK, ADMIN),
    },
    "corrections/runs/<int:run_id>/apply/": {"POST": page_write(RISK)},
    "corrections/runs/<int:run_id>/roll-back/": {"POST": page_write(RISK)},
    "corrections/runs/<int:run_id>/propose-again/": {"POST": page_write(RISK, ADMIN)},
    "schedules/": {
        "GET": page_read(*ALL),
        "POST": page_write(ADMIN),
    },
    "schedules/timing/": {"GET": page_read(*ALL)},
    "schedules/<int:schedule_id>/": {
        "GET": page_read(*ALL),
        "POST": page_write(ADMIN),
    },
    "schedules/<int:schedule_id>/toggle/": {"POST": page_write(ADMIN)},
    "schedules/<int:schedule_id>/delete/": {"POST": page_write(ADMIN)},
    "reports/": {"GET": page_read(*ALL), "POST": page_write(RISK, FINANCE)},
    "reports/<int:report_id>/": {"GET": page_read(*ALL)},
    "reports/<int:report_id>/download/": {"GET": page_read(RISK, FINANCE)},
    "reports/<int:report_id>/retry/": {"POST": page_write(RISK, FINANCE)},
    "reports/packs/": {"GET": page_read(*ALL), "POST": page_write(RISK, FINANCE)},
    "reports/packs/<int:pack_id>/": {"GET": page_read(*ALL), "POST": page_write(RISK, FINANCE)},
    "reports/packs/<int:pack_id>/toggle/": {"POST": page_write(RISK, FINANCE)},
    "reports/packs/<int:pack_id>/delete/": {"POST": page_write(RISK, FINANCE)},
    "healthz": {"GET": everyone(HEALTH)},
    # Prometheus scrapes with METRICS_TOKEN (tests/test_metrics.py); a person needs the admin role.
    "metrics": {"GET": api_read(ADMIN)},
    # Ours, not the Django admin's: the admin's sign-in is the desk's throttled sign-in page.
    "admin/login/": SIGN_IN_PAGE,
    # The API.
    "api/me/": {"GET": api_read(*ALL)},
    "api/audit/events/": {"GET": api_read(ADMIN)},
    "api/audit/verify/": {"GET": api_read(ADMIN)},
    "api/datasets/": {"GET": api_read(*ALL), "POST": api_write(RISK, ADMIN)},
    "api/datasets/<int:dataset_id>/": {"GET": api_read(*ALL)},
    "api/datasets/<int:dataset_id>/records/": {"GET": api_read(*ALL)},
    "api/formats/": {"GET": api_read(*ALL)},
    "api/imports/<int:job_id>/": {"GET": api_read(RISK, ADMIN, admin=404)},
    "api/rule-sets/": {"GET": api_read(*ALL), "POST": api_write(ADMIN)},
    "api/rule-sets/<int:rule_set_id>/drafts/": {"POST": api_write(ADMIN)},
    "api/rule-sets/versions/<int:version_id>/": {
        "GET": api_read(*ALL),
        "PUT": api_write(ADMIN),
        "DELETE": api_write(ADMIN),
    },
    "api/rule-sets/versions/<int:version_id>/publish/": {"POST": api_write(ADMIN)},
    "api/rule-sets/versions/<int:version_id>/preview/": {"GET": api_read(*ALL)},
    "api/rule-sets/compare/": {"GET": api_read(*ALL)},
    "api/runs/": {"GET": api_read(*ALL), "POST": api_write(RISK, ADMIN)},
    "api/runs/<int:run_id>/": {"GET": api_read(*ALL)},
    "api/runs/<int:run_id>/cancel/": {"POST": api_write(RISK, ADMIN)},
    "api/runs/<int:run_id>/matches/": {"GET": api_read(*ALL)},
    "api/breaks/": {"GET": api_read(*ALL)},
    "api/breaks/actions/": {"POST": api_write(RISK, ADMIN)},
    "api/breaks/<int:break_id>/": {"GET": api_read(*ALL)},
    "api/breaks/<int:break_id>/comments/": {
        "GET": api_read(*ALL),
        "POST": api_write(RISK, ADMIN),
    },
    "api/corrections/": {"GET": api_read(*ALL)},
    "api/corrections/approve/": {"POST": api_write(RISK)},
    "api/corrections/<int:correction_id>/": {"GET": api_read(*ALL)},
    "api/corrections/<int:correction_id>/approve/": {"POST": api_write(RISK)},
    "api/corrections/<int:correction_id>/reject/": {"POST": api_write(RISK)},
    "api/corrections/<int:correction_id>/apply/": {"POST": api_write(RISK)},
    "api/corrections/<int:correction_id>/roll-back/": {"POST": api_write(RISK)},
    "api/breaks/<int:break_id>/corrections/": {
        "GET": api_read(*ALL),
        "POST": api_write(RISK, ADMIN),
    },
    "api/runs/<int:run_id>/corrections/apply/": {"POST": api_write(RISK)},
    "api/runs/<int:run_id>/corrections/roll-back/": {"POST": api_write(RISK)},
    "api/reports/": {"GET": api_read(*ALL), "POST": api_write(RISK, FINANCE)},
    "api/reports/<int:report_id>/": {"GET": api_read(*ALL)},
    "api/reports/<int:report_id>/download/": {"GET": api_read(RISK, FINANCE)},
    "api/reports/<int:report_id>/retry/": {"POST": api_write(RISK, FINANCE)},
    "api/report-packs/": {"GET": api_read(*ALL), "POST": api_write(RISK, FINANCE)},
    "api/report-packs/<int:pack_id>/": {
        "GET": api_read(*ALL),
        "PUT": api_write(RISK, FINANCE),
        "DELETE": api_write(RISK, FINANCE),
    },
    "api/schema/": {"GET": api_read(*ALL)},
    # Swagger UI is an API-framework view people open in a browser: a page (`page()`).
    "api/docs/": {"GET": page_read(*ALL)},
}

# Query strings some reads need to answer 200 rather than a 400 naming what is missing.
QUERIES = {
    "rules/compare/": "old={published}&new={version_id}",
    "api/rule-sets/compare/": "old={published}&new={version_id}",
    "api/rule-sets/versions/<int:version_id>/preview/": "run={run_id}",
}


def _routes(patterns=None, prefix: str = ""):
    """Every route the URL configuration serves, as its pattern text, with its callback."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == django_admin.site.name:
                # The Django admin's own pages: Django's permission model (staff, ModelAdmin
                # permissions) behind our middleware's "admins only" page, and tested as such in
                # tests/accounts/test_admin_access.py and test_admin_guards.py. Its sign-in
                # address is ours and is in MATRIX ("admin/login/" is matched before it).
                continue
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback
    # No static or media routes to skip: WhiteNoise serves static files from its middleware,
    # and the desk serves no uploaded media (reports are downloaded through their views).


def test_every_route_has_an_entry_in_the_matrix():
    routes = {route for route, _ in _routes()}
    missing = sorted(routes - set(MATRIX))
    assert not missing, (
        f"Routes without an entry in MATRIX (add them to MATRIX in {Path(__file__).name}, with "
        f"the status each of {', '.join(WHO)} gets for each method the view takes): {missing}"
    )
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"MATRIX names routes the URL configuration no longer has: {stale}"
    assert len(routes) == len(list(_routes())), "two routes with the same pattern"


def test_every_api_view_has_exactly_its_methods_in_the_matrix():
    """An API view that gains a method (a PATCH, a DELETE) must have it in the matrix too."""
    for route, callback in _routes():
        view_class = getattr(callback, "view_class", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue  # function views say what they take only by answering (405 or not)
        handled = {
            method
            for method in ("GET", *WRITES)
            if method.lower() in view_class.http_method_names
            and hasattr(view_class, method.lower())
        }
        assert set(MATRIX[route]) == handled, (route, sorted(handled))


def test_the_matrix_names_only_known_people_and_methods():
    for route, methods in MATRIX.items():
        assert methods and set(methods) <= {"GET", *WRITES}, route
        for method, expected in methods.items():
            assert set(expected) == set(WHO), (route, method)


# Made once for the module (module_db): each test runs in a savepoint of its own, so what a
# write does (a token revoked, a pack deleted, a draft published) is rolled back after it.
@pytest.fixture(scope="module")
def world(module_db, tmp_path_factory):
    reports_dir = tmp_path_factory.mktemp("reports")
    users = {"no_role": new_user(), **{role: new_user(role) for role in ALL}}
    with override_settings(REPORTS_DIR=reports_dir):
        ids = demo_data.load()
        run = finished_position_run(ids)
        item = Break.objects.order_by("-value_rc").first()  # needs approvers: stays pending
        proposer = get_user_model().objects.create_user(username="matrix-proposer")
        account_services.set_roles(proposer, [RISK], by=None)
        correction = corrections.propose(item, by=proposer, reason="the book missed a fill")
        report = reports.request_report(Wanted(run_id=run.pk), format_="json", by=users[FINANCE])
        assert building.build(report.pk, worker="test") == {"ended": True}
    default = RuleSet.objects.get(name="default")
    published = default.versions.get(status="published")
    draft = rule_sets.start_draft(default, by=users[ADMIN])
    book = Dataset.objects.get(pk=ids["book balances"])
    job = ImportJob.objects.create(
        source=book.source, account=book.account, format=book.format, kind=book.kind,
        filename="balances.csv", size=1, content_hash="0" * 64, staged_name="matrix",
        created_by=users[RISK],
    )  # fmt: skip
    schedule = schedules.save_schedule(
        name="matrix hourly", type="position",
        internal_account=Account.objects.get(source__code="book"),
        external_account=Account.objects.get(source__code="kraken"),
        cron="0 * * * *", rule_set=default, by=None,
    )  # fmt: skip
    pack = packs.save_pack(
        name="matrix pack", formats=["json"], period="previous_day",
        recipients=["fay@example.com"], cron="0 6 * * *", by=users[FINANCE],
    )  # fmt: skip
    token, _secret = api_tokens.create_api_token(users[RISK], name="matrix", days=1, by=users[RISK])
    alias = AssetAlias.objects.create(exchange="", code="ZZMATRIX", asset="BTC")
    kwargs = {
        "run_id": run.pk, "break_id": item.pk, "dataset_id": book.pk,
        "rule_set_id": default.pk, "version_id": draft.pk, "correction_id": correction.pk,
        "report_id": report.pk, "pack_id": pack.pk, "job_id": job.pk,
        "schedule_id": schedule.pk, "token_id": token.pk, "alias_id": alias.pk,
        "published": published.pk,
    }  # fmt: skip
    # The users' own tokens (the one above is revoked by a test): tests/api_tokens.py's helper.
    tokens = {who: token_for(user) for who, user in users.items()}
    return {"users": users, "tokens": tokens, "kwargs": kwargs, "reports_dir": reports_dir}


@pytest.fixture(autouse=True)
def _built_reports_stay_found(request, settings, _isolated_outside_state):
    """The report built for the module is stored under the module's folder, not each test's."""
    if "world" in request.fixturenames:
        settings.REPORTS_DIR = request.getfixturevalue("world")["reports_dir"]


def _url(route: str, kwargs: dict) -> str:
    def value(match: re.Match) -> str:
        return str(kwargs[match.group(1)])

    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)
    query = QUERIES.get(route)
    return f"{path}?{query.format(**kwargs)}" if query else path


def _is_api(route: str) -> bool:
    return route.startswith("api/") and route != "api/docs/"


def _request(client, method: str, url: str, *, api: bool):
    if api:
        return client.generic(method, url, "{}", content_type="application/json")
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, "", content_type="application/x-www-form-urlencoded")


def _check(response, expected, said: str) -> None:
    status = response.status_code
    if response.streaming:
        # Streamed answers (CSV, downloads) fail while they stream: read them to the end.
        b"".join(response.streaming_content)
    said = f"{said}: got {status}, expected {expected}"
    sign_in = resolve_url(django_settings.LOGIN_URL) + "?"
    sent_to_sign_in = status == 302 and response["Location"].startswith(sign_in)
    if expected == SIGN_IN:
        assert sent_to_sign_in, said
    elif expected == ACTS:
        assert status not in (401, 403, 404, 405) and status < 500, said
        assert not sent_to_sign_in, said
    elif isinstance(expected, frozenset):
        assert status in expected, said
    else:
        assert status == expected, said


CASES = [
    pytest.param(route, method, who, expected, id=f"{method} /{route} as {who}")
    for route, methods in MATRIX.items()
    for method, by_who in methods.items()
    for who, expected in by_who.items()
]


@pytest.mark.parametrize(("route", "method", "who", "expected"), CASES)
def test_each_person_gets_the_status_the_rules_say(world, route, method, who, expected):
    """In the browser: signed in with a session (the API takes the session too)."""
    client = Client()
    if who != "anonymous":
        client.force_login(world["users"][who])
    url = _url(route, world["kwargs"])
    _check(_request(client, method, url, api=_is_api(route)), expected, f"{method} {url} as {who}")


# Machines use API tokens (SPEC 6.2): a token carries exactly its user's roles, no more.
TOKEN_CASES = [case for case in CASES if _is_api(case.values[0]) and case.values[2] != "anonymous"]


@pytest.mark.parametrize(("route", "method", "who", "expected"), TOKEN_CASES)
def test_an_api_token_gets_what_its_user_gets(world, route, method, who, expected):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][who]}")
    url = _url(route, world["kwargs"])
    said = f"{method} {url} with {who}'s token"
    _check(_request(client, method, url, api=True), expected, said)


def test_a_token_that_does_not_work_is_refused_everywhere(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token rd_not-a-token")
    for route, methods in MATRIX.items():
        if _is_api(route):
            for method in methods:
                url = _url(route, world["kwargs"])
                response = _request(client, method, url, api=True)
                assert response.status_code == 401, f"{method} {url}"
