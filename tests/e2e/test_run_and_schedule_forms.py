"""In the browser: the run form offers what fits the chosen type; a schedule's timing in words."""

import pytest

from reconciliation.demo import data as demo_data
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _offered(page, name: str) -> set[int]:
    return set(
        page.eval_on_selector(
            f"select[name={name}]",
            "s => [...s.options].filter(o => o.value && !o.hidden && !o.disabled)"
            ".map(o => Number(o.value))",
        )
    )


def test_the_run_form_offers_each_side_only_datasets_of_the_chosen_type(
    page, live_server, make_user, screenshot
):
    ids = demo_data.load()
    make_user("risk", username="rita")
    sign_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/runs/")
    expected = {
        "trades": ({ids["book trades"]}, {ids["kraken trades"]}),
        "margin": ({ids["book margin"]}, {ids["kraken margin"]}),
        "pnl": ({ids["book pnl"]}, {ids["kraken trades"]}),
        "position": ({ids["book balances"]}, {ids["kraken ledgers"]}),
    }
    for type_, (internal, external) in expected.items():
        page.select_option("#id_type", type_)
        assert (_offered(page, "internal"), _offered(page, "external")) == (internal, external)
    # Preselected: the service's own choice for the datasets picked (the latest at the run's time).
    assert page.input_value("#id_prices") == ""
    chosen = page.locator("#id_prices option:checked").inner_text()
    assert chosen == "The latest prices at the run's time (recommended)"
    screenshot("run-form-fitting")


def test_the_schedule_form_says_the_timing_in_words_as_it_is_typed(
    page, live_server, make_user, screenshot
):
    demo_data.load()
    make_user("admin", username="ada")
    sign_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/schedules/")
    page.fill("#id_cron", "0 6 31 2 *")
    page.wait_for_selector("#cron-timing >> text=never fires")
    page.fill("#id_cron", "0 6 * * 1-5")
    page.wait_for_selector("#cron-timing >> text=At 06:00, Monday through Friday")
    assert page.locator("#cron-timing time").count() == 3
    screenshot("schedule-timing")
