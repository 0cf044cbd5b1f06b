"""Browser tests: real Chromium driven by Playwright against pytest-django's live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's sync API runs an event loop in this thread; the live server's ORM calls are in
# other threads, but Django's async-safety guard would still trip on the test's own ORM use.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the browser tests, but {CHROMIUM} is missing")
    skip = pytest.mark.skip(
        reason=f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
    )
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield browser
        browser.close()


def _failed(request, problems: list[str]) -> None:
    # A request the browser gave up because the page moved on (a link followed while htmx
    # polled, a download taking over a navigation) is not a failure of the desk.
    if "ERR_ABORTED" not in (request.failure or ""):
        problems.append(f"failed: {request.method} {request.url} {request.failure}")


def _console(message, problems: list[str]) -> None:
    # Chromium logs every answer of 400 or more as "Failed to load resource"; the answers
    # themselves are judged in `_answered`, which knows which request each was.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console: {message.text}")


def _answered(response, problems: list[str]) -> None:
    """A failed answer to what the page loads (a script, a style, an htmx request), or a
    server error for a page; a page refused with a 4xx is the desk answering bad input."""
    if response.status < 400:
        return
    if response.request.is_navigation_request() and response.status < 500:
        return
    problems.append(f"answered {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def page(browser, request):
    """A page whose test fails on any console error or failed request, unless it is marked
    `browser_errors_expected` (a test that provokes one on purpose, and checks it)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: _console(m, problems))
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("requestfailed", lambda r: _failed(r, problems))
    page.on("response", lambda r: _answered(r, problems))
    page.browser_problems = problems  # what a test that expects some reads
    yield page
    context.close()
    if request.node.get_closest_marker("browser_errors_expected") is None:
        assert problems == [], "the browser reported errors"


@pytest.fixture
def screenshot(page):
    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def worker_queue(settings):
    """A real Celery worker on a queue of its own, and runs (and reports) sent to it: it stores
    report files where this test's server serves them from."""
    from tests.worker import running_worker, sending_to

    env = {"REPORTS_DIR": str(settings.REPORTS_DIR)}
    with running_worker(extra_env=env) as (queue, _hostname), sending_to(queue):
        yield queue


def fill_run_form(page, type_: str, internal: int, external: int, prices: int | None = None):
    """On the Runs page: choose the type and both datasets (prices: the form's own default)."""
    page.select_option("#id_type", type_)
    page.select_option("#id_internal", str(internal))
    page.select_option("#id_external", str(external))
    if prices is not None:
        page.select_option("#id_prices", str(prices))


def run_as_risk(page, live_server, make_user, type_: str, internal: int, external: int):
    """Sign in as a risk user, start a run from the Runs page and wait until it has finished."""
    from tests.e2e.test_sign_in_flow import sign_in

    make_user("risk", username="rita")
    sign_in(page, live_server, "rita")
    page.click("header nav >> text=Runs")
    fill_run_form(page, type_, internal, external)
    page.click("text=Start the run")
    page.wait_for_selector("text=See the breaks", timeout=60_000)  # htmx polls the progress
