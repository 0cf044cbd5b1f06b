"""The three journeys of issue 17, end to end in Chromium, each page as its role sees it:

(a) an admin edits a draft rule set, sees a validation error, fixes it, previews it against a
    finished run and publishes it;
(b) risk starts a run and watches it finish on a real worker, opens a break and proposes a
    correction; a second risk user approves it from the queue with the keyboard and applies it;
    the next run shows the break resolved;
(c) finance generates the PDF and Excel report of that run, waits for them, downloads both, and
    both open.

Every page is watched for console errors and failed requests (tests/e2e/conftest.py); the main
pages are saved as screenshots (test-artifacts/journey-*.png).
"""

import io
import json
import re

import pytest

from corrections.models import Correction
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, RuleSet
from tests.demo_runs import finished_position_run
from tests.e2e.conftest import fill_run_form
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_out(page):
    page.click("header >> text=Sign out")
    page.wait_for_selector("#id_username")


def test_a_an_admin_fixes_previews_and_publishes_a_rule_set(page, live_server, make_user,
                                                              screenshot):  # fmt: skip
    finished_position_run()  # something to preview against
    make_user("admin", username="ada")
    sign_in(page, live_server, "ada")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/rules/")
    page.click("text=New draft from the latest published version")
    page.wait_for_selector("h2:has-text('Edit the draft')")
    definition = json.loads(page.input_value("#definition"))
    definition["types"]["position"]["relative"] = "lots"
    page.fill("#definition", json.dumps(definition, indent=2))
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_selector("[role=alert]")
    assert "relative" in page.locator("main").inner_text()
    screenshot("journey-a-rule-set-invalid")
    definition["types"]["position"]["relative"] = "0.0005"
    page.fill("#definition", json.dumps(definition, indent=2))
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_load_state()
    page.click("form:has(select[name=preview_run]) >> button")
    page.wait_for_load_state()
    screenshot("journey-a-rule-set-preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("publish", re.IGNORECASE)).click()
    page.wait_for_selector("text=published; it can no longer change")
    published = RuleSet.objects.get(name="default").versions.get(number=2)
    assert published.status == "published"
    assert published.definition["types"]["position"]["relative"] == "0.0005"


@pytest.mark.worker
def test_b_and_c_a_break_found_corrected_resolved_and_reported(
    page, live_server, make_user, worker_queue, screenshot, tmp_path
):
    ids = demo_data.load()
    make_user("risk", username="rita")
    make_user("risk", username="paula")
    make_user("finance", username="fay")
    # (b) Rita starts a run and watches it finish.
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.click("header nav >> text=Runs")
    fill_run_form(page, "position", ids["book balances"], ids["kraken ledgers"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Start the run")
    page.wait_for_selector("text=See the breaks", timeout=60_000)  # htmx polls the progress
    screenshot("journey-b-run")
    page.click("text=See the breaks")
    eth = Break.objects.get(asset="ETH", type="position")
    page.click(f"a[href='/breaks/{eth.pk}/']")
    page.wait_for_selector("#propose-correction")
    screenshot("journey-b-break")
    page.fill("#id_reason", "Book shows ten times the ETH: a decimal shift on import.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#propose-correction >> text=Propose correction")
    page.wait_for_selector("text=proposed: it is")
    correction = Correction.objects.get(break_record=eth)
    assert correction.status == "pending"
    sign_out(page)
    # Paula approves it from the queue by keyboard, then applies it.
    sign_in(page, live_server, "paula")
    page.wait_for_selector("h1:has-text('Overview')")
    page.click("header nav >> text=Corrections")
    page.wait_for_selector("html[data-list-keys=ready]", state="attached")
    order = [int(x) for x in page.locator("#queue tr[data-correction]").evaluate_all(
        "rows => rows.map(r => r.dataset.correction)")]  # fmt: skip
    for _ in range(order.index(correction.pk) + 1):
        page.keyboard.press("j")
    screenshot("journey-b-queue")
    for _ in range(correction.approvals_required):
        page.once("dialog", lambda dialog: dialog.accept())
        page.keyboard.press("a")
        page.wait_for_selector(f"text=Correction {correction.pk} approved")
        if Correction.objects.get(pk=correction.pk).status != "pending":
            break
        sign_out(page)  # a second approval is someone else's: the proposer cannot give it
        make_user("risk", username="rhea")
        sign_in(page, live_server, "rhea")
        page.goto(f"{live_server.url}/corrections/")
        page.wait_for_selector("html[data-list-keys=ready]", state="attached")
        for _ in range(order.index(correction.pk) + 1):
            page.keyboard.press("j")
    page.goto(f"{live_server.url}/corrections/{correction.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#actions >> text=Apply to the book")
    page.wait_for_selector("text=Applied: set")
    assert Correction.objects.get(pk=correction.pk).status == "applied"
    screenshot("journey-b-applied")
    # The next run sees the book corrected: the break is resolved.
    page.click("header nav >> text=Runs")
    fill_run_form(page, "position", ids["book balances"], ids["kraken ledgers"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Start the run")
    page.wait_for_selector("text=See the breaks", timeout=60_000)
    run_id = int(page.url.rstrip("/").split("/")[-1])
    page.goto(f"{live_server.url}/breaks/{eth.pk}/")
    assert "resolved" in page.locator("main").inner_text()
    eth.refresh_from_db()
    assert eth.status == "resolved"
    screenshot("journey-b-resolved")
    sign_out(page)
    # (c) Fay reports that run as PDF and Excel, waits, downloads both; both open.
    sign_in(page, live_server, "fay")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/reports/?run={run_id}")
    form = page.locator("form[data-report-form]")
    form.locator("select[name=run]").select_option(str(run_id))
    page.once("dialog", lambda dialog: dialog.accept())
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    rows = page.locator("#report-rows tr[data-report]")
    for _ in range(60):
        states = rows.evaluate_all("rs => rs.map(r => r.dataset.status)")
        if len(states) == 2 and all(s == "ready" for s in states):
            break
        page.wait_for_timeout(1000)
        page.reload()
    assert states == ["ready", "ready"], states
    screenshot("journey-c-reports")
    opened = {}
    for link in page.locator("#report-rows a[href*=download]").all():
        with page.expect_download() as download:
            link.click()
        assert download.value.failure() is None, download.value.failure()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        opened[path.suffix] = path.read_bytes()
    from openpyxl import load_workbook
    from pypdf import PdfReader

    assert "Summary" in load_workbook(io.BytesIO(opened[".xlsx"]), read_only=True).sheetnames
    assert f"run {run_id}" in PdfReader(io.BytesIO(opened[".pdf"])).pages[0].extract_text()
