"""Schedules: timing in words and next times, refusing what never fires or cannot run."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from audit.models import AuditEvent
from reconciliation.demo import data as demo_data
from reconciliation.models import Account, RuleSet, Run, Schedule
from reconciliation.schedules import services as schedules
from reconciliation.schedules import timing as schedule_timing

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 4, 40, 13, tzinfo=UTC)


@pytest.fixture
def accounts():
    demo_data.load()
    return {a.source.code: a for a in Account.objects.select_related("source")}


def make(accounts, **changes):
    values = {
        "name": "daily positions", "type": "position", "internal_account": accounts["book"],
        "external_account": accounts["kraken"], "cron": "0 6 * * *",
        "rule_set": RuleSet.objects.get(name="default"), "by": None,
    }  # fmt: skip
    return schedules.save_schedule(**{**values, **changes})


def nothing_saved():
    return (
        not Schedule.objects.exists()
        and not PeriodicTask.objects.filter(task="reconciliation.run_schedule").exists()
        and not CrontabSchedule.objects.exists()
    )


# Each unreadable or never-firing timing, and words its message must contain.
REFUSED = [
    ("every day at 6", "write five fields: minute hour day-of-month month weekday"),
    ("0 6 * *", "Did you mean '0 6 * * *'?"),
    ("0 6 31 2 *", "never fires: day 31 of the month never occurs in February"),
    ("0 6 31 4,6 *", "never fires"),
    ("61 * * * *", "The minute field '61' is not valid: minutes run from 0 to 59"),
    ("0 24 * * *", "The hour field '24' is not valid"),
    ("0 6 0 * *", "The day of month field '0' is not valid"),
    ("0 6 * 13 *", "The month field '13' is not valid"),
    ("0 6 * * 7", "(0 is Sunday.)"),
    ("*/0 * * * *", "The minute field '*/0' is not valid"),
    ("1 2 3 4 5 6", "has 6 fields"),
    ("", "Write when to run as five fields"),
]


@pytest.mark.parametrize(("cron", "words"), REFUSED)
def test_a_timing_that_cannot_be_read_or_never_fires_is_refused(accounts, cron, words):
    with pytest.raises(schedules.ScheduleInvalid) as caught:
        make(accounts, cron=cron)
    assert words in caught.value.fields["cron"][0]
    assert "Minutes" not in caught.value.fields["cron"][0]  # not the library's message
    assert nothing_saved()


@pytest.mark.parametrize(("cron", "words"), REFUSED[:-1])  # empty: "This field is required."
def test_the_form_shows_why_a_timing_is_refused(accounts, client_as, cron, words):
    from django.utils.html import escape

    response = client_as("admin").post("/schedules/", {
        "name": "daily", "type": "position", "internal_account": accounts["book"].pk,
        "external_account": accounts["kraken"].pk, "rule_set": "default", "cron": cron,
    })  # fmt: skip
    assert response.status_code == 200
    assert escape(words) in response.content.decode()
    assert nothing_saved()


CRONS = ["0 6 * * *", "*/15 * * * *", "0 * * * *", "30 8 * * 1-5", "0 6 13 * 5",
         "0 0 1 * *", "5 4 29 2 *", "0 6,18 * jan,jul sun", "@weekly"]  # fmt: skip


@pytest.mark.parametrize("cron", CRONS)
def test_the_next_times_are_those_celery_beat_fires_at(cron):
    """Beat asks celery's crontab when a schedule is due: the next times agree with it."""
    found = schedule_timing.parse(cron)
    minute, hour, day, month, weekday = found.cron.split()
    beat = crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month,
                   day_of_week=weekday)  # fmt: skip
    expected, last = [], NOW
    for _ in range(3):
        beat.nowfun = lambda last=last: last
        last = last + beat.remaining_estimate(last)
        expected.append(last.replace(second=0, microsecond=0))
        last = last.replace(second=0, microsecond=0) + timedelta(seconds=1)
    assert found.next_times(NOW, 3) == expected


def test_the_timing_is_explained_in_words_beside_the_field(accounts, client_as):
    response = client_as("admin").get("/schedules/timing/", {"cron": "0 6 * * 1-5"})
    page = response.content.decode()
    assert "At 06:00, Monday through Friday (UTC)" in page
    assert len(re.findall(r"<time datetime=", page)) == 3
    refused = client_as("admin").get("/schedules/timing/", {"cron": "0 6 31 2 *"}).content
    assert b"never fires" in refused


def test_the_schedule_page_says_when_each_schedule_fires_next(accounts, client_as):
    make(accounts)
    page = client_as("risk").get("/schedules/").content.decode()
    assert "At 06:00 (UTC); next " in page


# A schedule whose sides do not fit the type: (internal source, external source, fields named).
MISFITS = [
    ("kraken", "prices", {"internal_account", "external_account"}),  # Kraken and a price feed
    ("book", "prices", {"external_account"}),
    ("kraken", "book", {"internal_account", "external_account"}),  # swapped
]


@pytest.mark.parametrize(("internal", "external", "fields"), MISFITS)
@pytest.mark.parametrize("type_", ["trades", "position", "margin"])
def test_a_schedule_whose_accounts_do_not_fit_is_refused(accounts, type_, internal, external,
                                                         fields):  # fmt: skip
    with pytest.raises(schedules.ScheduleInvalid) as caught:
        make(accounts, type=type_, internal_account=accounts[internal],
             external_account=accounts[external])  # fmt: skip
    assert set(caught.value.fields) == fields
    assert nothing_saved()


def test_a_price_source_must_be_a_price_feed(accounts):
    with pytest.raises(schedules.ScheduleInvalid) as caught:
        make(accounts, prices_source=accounts["kraken"].source)
    assert "not a price feed" in caught.value.fields["prices_source"][0]


def test_the_form_offers_only_fitting_accounts_and_preselects_the_only_rule_set(
    accounts, client_as
):
    page = client_as("admin").get("/schedules/").content.decode()

    def offered(name):
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
        return {int(v) for v in re.findall(r'<option value="(\d+)"', select)}

    assert offered("internal_account") == {accounts["book"].pk}
    assert offered("external_account") == {accounts["kraken"].pk}
    assert '<option value="default" selected>' in page


def test_the_form_refuses_a_kraken_and_price_feed_trades_schedule(accounts, client_as):
    response = client_as("admin").post("/schedules/", {
        "name": "trades", "type": "trades", "internal_account": accounts["kraken"].pk,
        "external_account": accounts["prices"].pk, "rule_set": "default", "cron": "0 6 * * *",
    })  # fmt: skip
    page = response.content.decode()
    assert "the internal side must be the book (an internal source)" in page
    assert "the external side must be an exchange or custodian" in page
    assert nothing_saved()


def test_a_schedule_saved_before_sides_were_checked_is_skipped_with_its_reason(accounts):
    schedule = make(accounts)
    Schedule.objects.filter(pk=schedule.pk).update(
        internal_account=accounts["kraken"], external_account=accounts["book"]
    )
    assert schedules.run_schedule(schedule.pk) is None
    assert not Run.objects.exists()
    skipped = AuditEvent.objects.get(action="schedule.skipped")
    assert "internal source" in skipped.after["reason"]
