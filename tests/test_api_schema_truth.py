"""The schema tells the truth: schemathesis calls every API operation with a token of each role.

A 5xx, or an answer the schema does not describe (status, content type, body, headers), fails.
The run is seeded (the same requests every time); `API_FUZZ_EXAMPLES` sets the examples per
operation (`make fuzz-api` runs a large one and prints the figures).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from accounts import services as account_services
from config.celery import app as celery_app
from reconciliation.breaks import workflow as break_workflow
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, ImportJob
from reconciliation.rules import services as rule_sets
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.api_tokens import token_for

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("API_FUZZ_SEED", "20261202"))
ROLES = ("risk", "finance", "admin", None)  # None: no token at all
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
)
# Requests sent, 5xx answers, answers outside the schema and answers by status, written to
# API_FUZZ_REPORT (a file name) when the module ends: `make fuzz-api` prints them.
FIGURES: Counter = Counter({"requests": 0, "5xx": 0, "violations": 0})
REPORT = os.environ.get("API_FUZZ_REPORT", "")


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {
            "mode": "all", "max-examples": EXAMPLES, "database": "none",
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })  # fmt: skip


class _App(WSGIHandler):
    """Django's WSGI app inside the test's transaction (as Django's test client runs it)."""

    def __call__(self, environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            return super().__call__(environ, start_response)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


def _served_schema() -> dict:
    """The schema `/api/schema/` serves (the same generator, public), as JSON data."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))


schema = schemathesis.openapi.from_dict(_served_schema(), config=_config())
schema.app = _App()


def _user(role: str):
    user = get_user_model().objects.create_user(username=f"fuzz-{role}", password="x-9-y-8-z")
    account_services.set_roles(user, [role], by=None)
    return user


def _seed() -> dict[str, list[int]]:
    ids = demo_data.load()
    datasets = {name: Dataset.objects.get(pk=pk) for name, pk in ids.items()}
    position = runs.start_run(
        type="position", internal=datasets["book balances"],
        external=datasets["kraken ledgers"], prices=datasets["prices"],
    )  # fmt: skip
    trades = runs.start_run(
        type="trades", internal=datasets["book trades"], external=datasets["kraken trades"]
    )
    for run in (position, trades):
        run_execution.execute_run(run.pk)
    risk = _user("risk")
    version = position.rule_set_version
    draft = rule_sets.start_draft(version.rule_set, by=risk)
    item = Break.objects.filter(first_seen_run=trades).first()
    break_workflow.comment(item.pk, text="looked at it", by=risk)
    return {
        "dataset_id": sorted(ids.values()),
        "run_id": [position.pk, trades.pk],
        "break_id": list(Break.objects.order_by("pk").values_list("pk", flat=True)[:20]),
        "rule_set_id": [version.rule_set_id],
        "version_id": [version.pk, draft.pk],
        "job_id": list(ImportJob.objects.values_list("pk", flat=True)),
        "tokens": {
            role: token_for(_user(role) if role != "risk" else risk) for role in ROLES if role
        },
    }


@pytest.fixture(scope="module")
def desk(django_db_setup, django_db_blocker):
    """Committed for the whole module: datasets of every kind, two finished runs with breaks,
    a draft version, a comment, and a user with a token for each role. Emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            yield _seed()
        finally:
            call_command("flush", interactive=False, verbosity=0)
            celery_app.control.purge()  # the seeded runs' and datasets' queued tasks
            if REPORT:
                Path(REPORT).write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def _known_ids(case, desk) -> None:
    """Most path ids name a seeded object; the rest stay as drawn (mostly missing: 404)."""
    for name, value in (case.path_parameters or {}).items():
        known = desk.get(name)
        if known and isinstance(value, int) and value % 4:
            case.path_parameters[name] = known[value % len(known)]


@schema.parametrize()
def test_every_answer_is_in_the_schema(case, desk):
    """Each generated request is sent once per role (and once with no token)."""
    _known_ids(case, desk)
    for role in ROLES:
        headers = {"Authorization": f"Token {desk['tokens'][role]}"} if role else {}
        FIGURES["requests"] += 1
        response = case.call(headers=headers)
        FIGURES[f"status {response.status_code}"] += 1
        if response.status_code >= 500:
            FIGURES["5xx"] += 1
        try:
            case.validate_response(response, headers=headers)
        except Exception:
            FIGURES["violations"] += 1
            raise
