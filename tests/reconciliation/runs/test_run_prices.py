"""A run given no prices takes the latest prices dataset at its time, says so and records it."""

import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from reconciliation.datasets import ingest
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakObservation, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def _prices_at(demo, moment) -> Dataset:
    """Another prices dataset, as of `moment` (the demo's prices, moved there)."""
    iso = moment.isoformat().replace("+00:00", "Z")
    return ingest.import_file(
        source=demo["prices"].source, account=None, format_code="prices",
        data=demo_data.prices(demo_data._trade_rows(), iso), filename="later.csv",
    ).dataset  # fmt: skip


def _margin_run(demo, **kw):
    return runs.start_run(type="margin", internal=demo["book margin"],
                          external=demo["kraken margin"], **kw)  # fmt: skip


def test_the_service_takes_the_latest_prices_and_values_every_break(demo):
    run = _margin_run(demo)
    assert run.prices_dataset == demo["prices"]
    run_execution.execute_run(run.pk)
    eur = Break.objects.get(type="margin", asset="EUR")
    assert eur.value_rc is not None  # valued with the prices, not left unvalued and "high"
    started = AuditEvent.objects.get(action="run.started", object_id=run.pk)
    assert started.after["prices"] == demo["prices"].pk
    assert started.after["prices_chosen"] == "latest"


def test_prices_after_the_runs_time_are_not_chosen(demo):
    later = _prices_at(demo, demo["book margin"].as_of + timedelta(days=30))
    assert later.period_start > demo["book margin"].as_of
    assert _margin_run(demo).prices_dataset == demo["prices"]


def _position_run(demo):
    return runs.start_run(type="position", internal=demo["book balances"],
                          external=demo["kraken ledgers"])  # fmt: skip


def test_the_latest_of_several_prices_datasets_is_chosen(demo):
    as_of = max(demo["book balances"].as_of, demo["kraken ledgers"].as_of)
    newer = _prices_at(demo, as_of)
    assert newer.as_of > demo["prices"].as_of
    assert _position_run(demo).prices_dataset == newer


def test_the_recorded_prices_are_used_even_if_newer_ones_arrive_before_it_executes(demo):
    """Reproducible: the run keeps the prices it was started with, and values with them."""
    first = _position_run(demo)
    _prices_at(demo, first.as_of)
    run_execution.execute_run(first.pk)
    first.refresh_from_db()
    assert first.prices_dataset == demo["prices"] and first.status == "succeeded"
    again = runs.start_run(
        type="position",
        internal=demo["book balances"],
        external=demo["kraken ledgers"],
        prices=first.prices_dataset,
    )
    run_execution.execute_run(again.pk)
    seen = {
        run.pk: sorted(BreakObservation.objects.filter(run=run).values_list(
            "break_record__break_key", "value_rc", "severity"))
        for run in (first, again)
    }  # fmt: skip
    assert seen[first.pk] == seen[again.pk] and seen[first.pk]


def test_given_prices_are_kept(demo):
    run = _margin_run(demo, prices=demo["prices"])
    started = AuditEvent.objects.get(action="run.started", object_id=run.pk)
    assert run.prices_dataset == demo["prices"] and started.after["prices_chosen"] == "given"


def test_valuation_without_any_prices_dataset_is_refused(book, kraken):
    head = "account,asset,quantity,as_of\n"
    data = (head + "main,BTC,1,2026-01-01T00:00:00Z\n").encode()
    internal, external = (
        ingest.import_file(source=a.source, account=a, data=data,
                           format_code="generic-balances", filename="b.csv").dataset
        for a in (book, kraken)
    )  # fmt: skip
    with pytest.raises(runs.RunRefused) as caught:
        runs.start_run(type="valuation", internal=internal, external=external)
    assert "none has prices at or before" in caught.value.fields["prices"][0]
    assert not Run.objects.exists()


def test_the_api_takes_the_latest_prices_and_answers_which(demo, make_user):
    client = APIClient()
    client.force_authenticate(make_user("risk"))
    body = {"type": "margin", "internal": demo["book margin"].pk,
            "external": demo["kraken margin"].pk}  # fmt: skip
    response = client.post("/api/runs/", body, format="json")
    assert response.status_code == 201
    assert response.json()["prices_dataset"] == demo["prices"].pk
    assert Run.objects.get().prices_dataset == demo["prices"]


def test_the_command_takes_the_latest_prices_and_says_which(demo, capsys):
    with pytest.raises(CommandError, match="still queued"):  # no worker here: it only starts
        call_command(
            "run_reconciliation", "--type", "margin", "--internal", demo["book margin"].pk,
            "--external", demo["kraken margin"].pk, "--timeout", "0",
        )  # fmt: skip
    said = capsys.readouterr().err
    assert f"prices: dataset {demo['prices'].pk}, the latest" in said
    assert Run.objects.get().prices_dataset == demo["prices"]


def _preselected_prices(page: str) -> str:
    """The value a browser would send for the prices select, as the page shows it."""
    select = re.search(r'<select name="prices".*?</select>', page, re.S).group(0)
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return chosen.group(1) if chosen else re.search(r'<option value="([^"]*)"', select).group(1)


def test_the_run_form_preselects_what_the_service_would_choose(demo, client_as):
    # The newest prices dataset overall starts after the run's time: it would value nothing.
    at = run_inputs.run_time(demo["book margin"], demo["kraken margin"])
    later = _prices_at(demo, at + timedelta(days=30))
    client = client_as("risk")
    page = client.get("/runs/").content.decode()
    client.post("/runs/", {
        "type": "margin", "internal": demo["book margin"].pk,
        "external": demo["kraken margin"].pk, "prices": _preselected_prices(page),
    })  # fmt: skip
    run = Run.objects.get()
    assert run.prices_dataset == demo["prices"] != later
    assert run.prices_dataset == run_inputs.prices_for(demo["book margin"], demo["kraken margin"])
    assert "Preselected: the latest prices at or before the run" in page


def test_the_run_form_left_without_prices_takes_the_latest_and_the_run_page_says_so(
    demo, client_as
):
    response = client_as("risk").post("/runs/", {
        "type": "margin", "internal": demo["book margin"].pk,
        "external": demo["kraken margin"].pk, "prices": "",
    }, follow=True)  # fmt: skip
    run = Run.objects.get()
    assert run.prices_dataset == demo["prices"]
    page = response.content.decode()
    assert f'<dt>Prices</dt><dd><a href="/datasets/{demo["prices"].pk}/">' in page
