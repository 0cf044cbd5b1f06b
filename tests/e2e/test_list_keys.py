"""The breaks list by keyboard (static/js/list_keys.js, shared with the approvals queue): j / k
move, x selects for the bulk actions, o opens; keys typed into a filter stay in the filter."""

import pytest

from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_breaks_list_is_worked_from_the_keyboard(page, live_server, make_user, screenshot):
    finished_position_run()
    make_user("risk", username="rita")
    sign_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/breaks/?sort=oldest")
    page.wait_for_selector("html[data-list-keys=ready]", state="attached")
    ids = [b.pk for b in Break.objects.order_by("id")]
    page.keyboard.press("j")
    page.keyboard.press("j")
    current = page.locator("#breaks-list tr.current")
    assert current.get_attribute("aria-current") == "true"
    assert current.get_attribute("data-href") == f"/breaks/{ids[1]}/"
    page.keyboard.press("k")
    assert current.get_attribute("data-href") == f"/breaks/{ids[0]}/"
    page.keyboard.press("x")
    assert page.locator(f"input[name=ids][value='{ids[0]}']").is_checked()
    screenshot("breaks-keyboard")
    page.fill("input[name=asset]", "jkxo")  # typed into a filter: no row moves, none opens
    assert page.locator("input[name=asset]").input_value() == "jkxo"
    assert current.get_attribute("data-href") == f"/breaks/{ids[0]}/"
    page.keyboard.press("Escape")
    page.keyboard.press("o")
    page.wait_for_url(f"{live_server.url}/breaks/{ids[0]}/")
