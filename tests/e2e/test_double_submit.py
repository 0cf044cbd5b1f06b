"""Two clicks 80 ms apart on "Add a comment" and "Start the run" act once, in real Chromium.

Once as the page is (its script disables the button after the first click), and once with the
script blocked, where the server alone must recognise the second submission.
"""

import re

import pytest
from playwright.sync_api import expect

from reconciliation.breaks import workflow as break_workflow
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakComment, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.e2e.conftest import fill_run_form
from tests.e2e.test_sign_in_flow import sign_in
from tests.slow_calls import slowed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Clicks dispatched by the page itself, so that the second one is not held back by Playwright
# waiting for the button to be enabled again (a person's second click is not either).
DOUBLE_CLICK = """(selector) => {
  document.querySelector(selector).click();
  setTimeout(() => document.querySelector(selector)?.click(), 80);
}"""


@pytest.fixture
def desk(make_user, monkeypatch):
    # The server takes a while, so the second click comes while the first is being carried out.
    slowed(monkeypatch, runs, "start_run")
    slowed(monkeypatch, break_workflow, "comment")
    data = {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}
    make_user("risk", username="rita")
    return data


@pytest.fixture(params=["with the page's script", "with the script blocked"])
def script(request, page):
    if request.param == "with the script blocked":
        page.route("**/static/js/forms.js", lambda route: route.abort())
        request.node.add_marker(pytest.mark.browser_errors_expected)  # the blocked script
    return request.param


def double_click(page, selector: str) -> None:
    page.evaluate(DOUBLE_CLICK, selector)


def test_start_the_run_clicked_twice_starts_one_run(page, live_server, desk, script, screenshot):
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/runs/")
    fill_run_form(page, "position", desk["book balances"].pk, desk["kraken ledgers"].pk)
    double_click(page, "form.stacked button[type=submit]")
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"), timeout=30_000)
    page.wait_for_load_state("networkidle")
    screenshot("double-start-run-" + ("blocked" if "blocked" in script else "script"))
    assert Run.objects.count() == 1
    assert page.url.endswith(f"/runs/{Run.objects.get().pk}/")


def test_add_a_comment_clicked_twice_posts_one_comment(page, live_server, desk, script):
    run = runs.start_run(
        type="position", internal=desk["book balances"], external=desk["kraken ledgers"],
        prices=desk["prices"],
    )  # fmt: skip
    run_execution.execute_run(run.pk)
    item = Break.objects.filter(type="position").order_by("pk").first()
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/breaks/{item.pk}/")
    page.fill("textarea[name=text]", "Only once, please.")
    double_click(page, "form[action$='/comments/'] button")
    page.wait_for_selector("text=Only once, please.")
    page.wait_for_load_state("networkidle")
    assert BreakComment.objects.filter(break_record=item).count() == 1
    assert page.locator(".comment:has-text('Only once, please.')").count() == 1
