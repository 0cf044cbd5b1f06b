"""Pages fit the window: at 1280 and 800 px nothing runs off its box, and the nav stays in its bar.

With demo data and its runs (18-place values, long trade ids, audit entries with JSON changes).
Screenshots go to test-artifacts/ (layout-<page>-<width>.png).
"""

from decimal import Decimal

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.models import Account, Break, Dataset, RuleSetVersion
from reconciliation.rules import services as rule_sets
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from reconciliation.schedules import services as schedules
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 800)
# What overflowed before: (page, the box its content must fit in)
BOXES = [
    ("/breaks/", "#bulk .scroll"),
    ("/audit/", "main section.card:last-of-type"),
    ("/", "main"),
    ("/runs/", "main"),
    ("/datasets/", "main"),
    ("/rules/", "main"),
    ("/schedules/", "main"),
    ("/datasets/aliases/", "main"),
    ("/datasets/upload/", "main"),
    ("/accounts/tokens/", "main"),
]


@pytest.fixture
def demo_desk(make_user):
    ids = demo_data.load()
    data = {name: Dataset.objects.get(pk=pk) for name, pk in ids.items()}
    for type_, internal, external in (
        ("position", "book balances", "kraken ledgers"),
        ("valuation", "book balances", "kraken ledgers"),
        ("trades", "book trades", "kraken trades"),
    ):
        run = runs.start_run(
            type=type_, internal=data[internal], external=data[external], prices=data["prices"]
        )
        run_execution.execute_run(run.pk)
    # The worst the issue names: an 18-place value, and a long account name.
    eth = Break.objects.get(type="position", asset="ETH")
    Break.objects.filter(pk=eth.pk).update(
        internal_value=Decimal("487.229322380000000001"),
        difference=Decimal("438.506390142000000001"),
        account="kraken-prop-desk-eu/main-trading-subaccount",
    )
    # And the widest row a desk shows: long negative values rounded on every side, investigated
    # and assigned (a real demo list overflowed at 1280 px with such rows).
    worker = make_user("risk", username="demo-investigator")
    wide = Break.objects.filter(type="position").exclude(pk=eth.pk).first()
    Break.objects.filter(pk=wide.pk).update(
        internal_value=Decimal("-170571.577429981234"),
        external_value=Decimal("-382923.468071234567"),
        difference=Decimal("212351.890641253333"),
        value_rc=Decimal("-2140415.551234"),
        field="open_position",
        status="investigating",
        assignee=worker,
    )
    make_user("admin", username="ada")
    make_user("risk", username="rita")
    # Names at their longest (100 characters, no space to break at) widened /schedules/ and
    # /rules/ and the version page past the window.
    long_rule_set = rule_sets.publish(
        rule_sets.create_rule_set(name="R" * 100, by=None), by=None
    ).rule_set
    schedules.save_schedule(
        name="S" * 100, type="position", internal_account=Account.objects.get(source__code="book"),
        external_account=Account.objects.get(source__code="kraken"), cron="0 * * * *",
        rule_set=long_rule_set, by=None,
    )  # fmt: skip
    return data


def overflow(page, selector: str) -> dict:
    return page.eval_on_selector(
        selector,
        "el => ({scroll: el.scrollWidth, client: el.clientWidth,"
        " page: document.documentElement.scrollWidth, window: window.innerWidth})",
    )


def boxes_overflowing(page) -> list[str]:
    """Every card and scroll box whose content is wider than the box."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main .card, main .scroll')]
          .filter(el => el.scrollWidth > el.clientWidth)
          .map(el => `${el.className} ${(el.querySelector('h2') || {}).textContent || ''}`
                     + ` ${el.scrollWidth} > ${el.clientWidth}`)"""
    )


def nav_links_outside_the_bar(page) -> list[str]:
    return page.evaluate(
        """() => {
          const bar = document.querySelector('header.topbar').getBoundingClientRect();
          const links = [...document.querySelectorAll('header.topbar a, header.topbar button')];
          return links.filter(a => {
            const r = a.getBoundingClientRect();
            return r.width === 0 || r.left < bar.left || r.right > bar.right
              || r.top < bar.top || r.bottom > bar.bottom;
          }).map(a => a.textContent.trim());
        }"""
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_lists_and_the_nav_fit_the_window(page, live_server, demo_desk, screenshot, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "ada")
    page.wait_for_selector("h1:has-text('Overview')")
    a_break = Break.objects.get(type="position", asset="ETH")
    long_version = RuleSetVersion.objects.get(rule_set__name="R" * 100)
    pages = [
        *BOXES,
        (f"/breaks/{a_break.pk}/", "main"),
        (f"/rules/versions/{long_version.pk}/", "main"),
    ]
    for path, box in pages:
        page.goto(live_server.url + path)
        page.eval_on_selector_all("details", "all => all.forEach(d => { d.open = true; })")
        name = path.strip("/").replace("/", "-") or "overview"
        screenshot(f"layout-{name}-{width}")
        sizes = overflow(page, box)
        assert sizes["scroll"] <= sizes["client"], (path, box, sizes)
        assert sizes["page"] <= sizes["window"], (path, sizes)
        assert boxes_overflowing(page) == [], path
        assert nav_links_outside_the_bar(page) == [], path


def test_a_rounded_amount_shows_its_exact_value_on_hover(page, live_server, demo_desk):
    long = next(
        b for b in Break.objects.exclude(internal_value=None)
        if len(format(b.internal_value.normalize(), "f").partition(".")[2]) > 8
    )  # fmt: skip
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    page.goto(f"{live_server.url}/breaks/?q=&type={long.type}")
    row = page.locator(f"tr:has(a[href='/breaks/{long.pk}/'])")
    cell = row.locator("td[data-label=Book] .rounded")
    exact = format(long.internal_value.normalize(), "f")
    assert cell.get_attribute("title") == exact
    assert len(cell.inner_text()) < len(exact)
