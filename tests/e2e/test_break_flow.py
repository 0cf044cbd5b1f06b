"""A run's page after success, and working a break from its own page (reopen, assign)."""

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.e2e.conftest import run_as_risk
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_run_page_shows_the_outcome_and_the_matches_without_a_reload(
    page, live_server, make_user, worker_queue, screenshot
):
    ids = demo_data.load()
    run_as_risk(page, live_server, make_user, "trades", ids["book trades"], ids["kraken trades"])
    run = Run.objects.get()
    assert run.status == "succeeded" and run.match_count
    status = page.locator("#run-status")
    assert "succeeded" in status.inner_text()
    link = page.locator(f"#run-status a[href='/runs/{run.pk}/matches.csv']")
    link.wait_for(timeout=5_000)  # there without a reload
    assert page.locator("ul.messages").count() == 0  # the status box alone says how it went
    assert f"Run {run.pk} queued." not in page.locator("main").inner_text()
    screenshot("run-succeeded-trades")


def test_a_break_is_accepted_reopened_and_assigned_from_its_page(
    page, live_server, make_user, screenshot
):
    ids = demo_data.load()
    make_user("risk", username="rita")
    make_user("risk", username="wanda")
    datasets = {name: Dataset.objects.get(pk=pk) for name, pk in ids.items()}
    run = runs.start_run(type="trades", internal=datasets["book trades"],
                         external=datasets["kraken trades"], prices=datasets["prices"])  # fmt: skip
    run_execution.execute_run(run.pk)
    item = Break.objects.get(type="trades", field="price")
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/breaks/?age=1000000&run=abc")
    errors = page.locator("#filter-errors").inner_text()
    assert "older than (days)" in errors and "run #" in errors
    assert page.locator("#bulk").count() == 0  # no list shown filtered otherwise than asked
    screenshot("breaks-bad-filters")
    page.goto(f"{live_server.url}/breaks/{item.pk}/")
    trade_ids = page.locator("#trade-ids").inner_text()
    assert all(i in trade_ids for i in item.details["internal_ids"] + item.details["external_ids"])
    page.locator("#evidence summary").click()
    assert page.locator("#evidence dl.evidence dt").count() >= 5
    page.select_option("#status-action select[name=action]", "accept")
    page.fill("#status-action input[name=reason]", "Price agreed with the desk")
    page.click("#status-action >> text=Apply")
    page.wait_for_selector("#status-action >> text=Reopen")
    item.refresh_from_db()
    assert item.status == "accepted"
    page.click("#status-action >> text=Reopen")
    page.wait_for_selector("text=1 break updated")
    page.wait_for_selector("#status-action select[name=action]")
    item.refresh_from_db()
    assert item.status == "open" and item.accepted_reason == ""
    page.select_option("#assignee", label="wanda")
    page.click("#assign-action button[type=submit]")
    page.wait_for_selector("dd:has-text('wanda')")
    item.refresh_from_db()
    assert item.assignee.username == "wanda"
    page.locator("#evidence summary").click()
    screenshot("break-reopened-and-assigned")
