"""Every main page, as each role, runs in Chromium under the Content-Security-Policy with no
violation and no JavaScript error: no inline script, handler or style is left for it to block.

Violations are caught three ways: the `securitypolicyviolation` event (reported to the test by
an exposed function), Chromium's console message, and uncaught page errors.
"""

import pytest

from corrections import services as corrections
from reconciliation.demo import data as demo_data
from reconciliation.models import Account, Break, Dataset, RuleSet, Run
from reconciliation.rules import services as rule_sets
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from reconciliation.schedules import services as schedules
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolation(event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture
def desk(make_user):
    ids = demo_data.load()
    data = {name: Dataset.objects.get(pk=pk) for name, pk in ids.items()}
    run = runs.start_run(
        type="position", internal=data["book balances"], external=data["kraken ledgers"]
    )
    run_execution.execute_run(run.pk)
    default = RuleSet.objects.get(name="default")
    draft = rule_sets.start_draft(default, by=None)
    schedules.save_schedule(
        name="hourly", type="position", internal_account=Account.objects.get(source__code="book"),
        external_account=Account.objects.get(source__code="kraken"), cron="0 * * * *",
        rule_set=default, by=None,
    )  # fmt: skip
    users = {role: make_user(role, username=f"csp-{role}") for role in ("risk", "finance", "admin")}
    published = default.versions.get(number=1)
    largest = Break.objects.order_by("-value_rc").first()  # needs approvers: stays pending
    correction = corrections.propose(largest, by=users["risk"], reason="a fill the book missed")
    pages = [
        "/", "/breaks/", f"/breaks/{Break.objects.first().pk}/", "/runs/",
        f"/runs/{Run.objects.get(pk=run.pk).pk}/", "/datasets/",
        f"/datasets/{data['prices'].pk}/", "/datasets/upload/", "/datasets/aliases/",
        "/rules/", f"/rules/versions/{draft.pk}/", f"/rules/versions/{published.pk}/",
        f"/rules/compare/?old={published.pk}&new={draft.pk}", "/schedules/", "/audit/",
        "/admin/", "/admin/auth/user/", f"/admin/auth/user/{users['risk'].pk}/change/",
        "/admin/audit/auditevent/", "/admin/django_celery_beat/periodictask/", "/no-such-page/",
        "/corrections/", f"/corrections/{correction.pk}/", f"/corrections/propose/{largest.pk}/",
        "/admin/corrections/correction/", f"/admin/corrections/correction/{correction.pk}/change/",
    ]  # fmt: skip
    return {"pages": pages, "draft": draft}


class Watch:
    """What went wrong in the page: CSP violations and JavaScript errors."""

    def __init__(self, page):
        self.violations: list[str] = []
        self.errors: list[str] = []
        page.expose_function("cspViolation", lambda text: self.violations.append(text))
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("response", self._response)

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.violations.append(f"console: {text}")
        elif message.type == "error" and not text.startswith("Failed to load resource"):
            # (A 403 or 404 page is logged as a failed load of the page itself: not an error.)
            self.errors.append(f"console error: {text}")

    def _response(self, response):
        # A page's own 403 or 404 is expected; a missing stylesheet, script or icon is not.
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} for {response.url}")

    def problems(self) -> list[str]:
        return self.violations + self.errors


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("role", ["risk", "finance", "admin"])
def test_every_main_page_runs_under_the_policy_without_errors(browser, live_server, desk, role):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = Watch(page)
    try:
        visit(page, f"{live_server.url}/accounts/login/")
        sign_in(page, live_server, f"csp-{role}")
        page.wait_for_selector("h1")
        for path in desk["pages"]:
            visit(page, live_server.url + path)
            assert watch.problems() == [], path
        visit(page, f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)  # it rendered
        assert page.locator(".swagger-ui .opblock").count() > 0  # and shows the operations
        assert watch.problems() == [], "/api/docs/"
    finally:
        context.close()


def test_htmx_and_confirmations_work_under_the_policy(browser, live_server, desk):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = Watch(page)
    try:
        sign_in(page, live_server, "csp-admin")
        page.wait_for_selector("h1")
        visit(page, f"{live_server.url}/audit/")
        page.click("text=Verify the chain")  # htmx swaps the answer in
        page.wait_for_selector("#verify-result [role=status]")
        assert "Chain intact" in page.inner_text("#verify-result")
        # A declined confirmation sends nothing; an accepted one sends the form.
        visit(page, f"{live_server.url}/rules/versions/{desk['draft'].pk}/")
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("text=Discard the draft")
        page.wait_for_timeout(300)
        assert RuleSet.objects.get(name="default").versions.filter(status="draft").exists()
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("text=Discard the draft")
        page.wait_for_load_state("networkidle")
        assert not RuleSet.objects.get(name="default").versions.filter(status="draft").exists()
        assert watch.problems() == []
    finally:
        context.close()


def test_an_inline_script_would_be_caught(browser, live_server, desk):
    """The watch itself works: a script the policy blocks is reported."""
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    try:
        sign_in(page, live_server, "csp-risk")
        page.wait_for_selector("h1")
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = true'; document.body.appendChild(s); }"
        )
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.ran") is None
        assert any("script-src" in v for v in watch.violations), watch.violations
    finally:
        context.close()
