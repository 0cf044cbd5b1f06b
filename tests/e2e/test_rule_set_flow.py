"""An admin edits a draft in Chromium and presses Publish without saving (issue 12 item 11)."""

import json
import re

import pytest

from reconciliation.models import RuleSet
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PUBLISH = re.compile("publish", re.IGNORECASE)


def open_new_draft(page, live_server):
    page.goto(f"{live_server.url}/rules/")
    page.click("text=New draft from the latest published version")
    page.wait_for_selector("h2:has-text('Edit the draft')")
    return json.loads(page.input_value("#definition"))


def test_publish_with_unsaved_edits_publishes_what_the_page_shows(
    page, live_server, make_user, screenshot
):
    make_user("admin", username="ada")
    sign_in(page, live_server, "ada")
    page.wait_for_selector("h1:has-text('Overview')")
    definition = open_new_draft(page, live_server)
    definition["types"]["position"]["relative"] = "0.0005"
    page.fill("#definition", json.dumps(definition, indent=2))
    page.fill("#notes", "tighter position tolerance")
    page.once("dialog", lambda dialog: dialog.accept())  # "A published version can never change."
    page.get_by_role("button", name=PUBLISH).click()  # without pressing Save first
    page.wait_for_selector("text=published; it can no longer change")
    screenshot("rule-set-published-with-edits")
    published = RuleSet.objects.get(name="default").versions.get(number=2)
    assert published.status == "published"
    assert published.definition["types"]["position"]["relative"] == "0.0005"
    assert published.notes == "tighter position tolerance"


def test_publish_with_an_invalid_unsaved_edit_keeps_the_text_and_publishes_nothing(
    page, live_server, make_user, screenshot
):
    make_user("admin", username="ada")
    sign_in(page, live_server, "ada")
    page.wait_for_selector("h1:has-text('Overview')")
    definition = open_new_draft(page, live_server)
    definition["types"]["position"]["relative"] = "lots"
    page.fill("#definition", json.dumps(definition, indent=2))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=PUBLISH).click()
    page.wait_for_selector("text=Nothing was saved")
    screenshot("rule-set-publish-refused")
    assert '"lots"' in page.input_value("#definition")
    draft = RuleSet.objects.get(name="default").versions.get(number=2)
    assert draft.status == "draft"
    assert draft.definition["types"]["position"]["relative"] == "0.001"
