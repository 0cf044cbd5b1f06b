"""The approvals queue in Chromium: a correction approved with the keyboard (j to reach it, a to
approve, the confirmation accepted), one rejected with r and a reason, and a declined
confirmation that changes nothing."""

import pytest

from corrections import services
from corrections.models import Approval, Correction
from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pending(make_user):
    proposer = make_user("risk", username="paula")
    make_user("risk", username="rita")
    run = finished_position_run()
    made = [services.propose(b, by=proposer, reason="the book missed the exchange's entries")
            for b in Break.objects.filter(last_seen_run=run).order_by("id")]  # fmt: skip
    waiting = sorted((c for c in made if c.status == "pending"), key=lambda c: -c.pk)
    assert len(waiting) == 3
    return waiting  # as the queue lists them: newest first


def keys_ready(page):
    # The rows show while the page still parses; the deferred script listens a moment later.
    page.wait_for_selector("html[data-list-keys=ready]", state="attached")


def test_a_correction_is_approved_and_another_rejected_by_keyboard(
    page, live_server, pending, screenshot
):
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.click("header nav >> text=Corrections")
    page.wait_for_selector("#queue tr[data-correction]")
    keys_ready(page)
    one = next(c for c in pending if c.approvals_required == 1)
    position = [c.pk for c in pending].index(one.pk)
    for _ in range(position + 1):
        page.keyboard.press("j")
    current = page.locator("#queue tr.current")
    assert current.get_attribute("data-correction") == str(one.pk)
    screenshot("corrections-queue-keyboard")

    questions = []

    def decline(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.keyboard.press("a")
    assert questions and f"Approve correction {one.pk}" in questions[0]
    assert Approval.objects.filter(correction=one).count() == 0  # declined: nothing sent

    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("a")
    page.wait_for_selector(f"text=Correction {one.pk} approved by you")
    assert Correction.objects.get(pk=one.pk).status == "approved"
    assert page.locator(f"#queue tr[data-correction='{one.pk}']").count() == 0  # no longer pending

    keys_ready(page)
    page.keyboard.press("j")
    other = int(page.locator("#queue tr.current").get_attribute("data-correction"))
    page.keyboard.press("r")
    page.keyboard.type("booked twice by the desk")
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text=Correction {other} rejected")
    rejected = Correction.objects.get(pk=other)
    assert rejected.status == "rejected" and rejected.rejection_reason == "booked twice by the desk"
    screenshot("corrections-queue-after-keyboard")
    page.goto(f"{live_server.url}/corrections/{one.pk}/")
    assert "rita" in page.locator("#approvals").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#actions >> text=Apply to the book")
    page.wait_for_selector("text=Applied: set")
    assert Correction.objects.get(pk=one.pk).status == "applied"
    screenshot("correction-applied")
