"""Large runs split by asset into parts that any worker executes, merged into one result."""

import pytest

from reconciliation.datasets import frames
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakObservation, Dataset, MatchChunk, Run, RunPartition
from reconciliation.runs import execution as run_execution
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import partitions
from reconciliation.runs import services as runs
from reconciliation.runs.selectors import run_matches
from tests.worker import running_worker, sending_to

pytestmark = pytest.mark.django_db

CASES = [
    ("position", "book balances", "kraken ledgers"),
    ("cash", "book balances", "kraken ledgers"),
    ("valuation", "book balances", "kraken ledgers"),
    ("trades", "book trades", "kraken trades"),
]


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


@pytest.fixture
def split_everything(settings):
    settings.RUN_PARTITION_MIN_ROWS = 1
    settings.RUN_PARTITIONS = 3


def start(demo, type_, internal, external):
    return runs.start_run(
        type=type_, internal=demo[internal], external=demo[external], prices=demo["prices"]
    )


def observed(run):
    rows = BreakObservation.objects.filter(run=run).values_list(
        "break_record__break_key", "internal_value", "external_value", "difference",
        "value_rc", "severity",
    )  # fmt: skip
    return sorted(rows)


def execute_parts(run, order=None):
    statuses = [
        run_execution.execute_partition(run.pk, number)
        for number in (order or range(1, run.partition_count + 1))
    ]
    run.refresh_from_db()
    return statuses


def whole_then_split(demo, settings, case):
    settings.RUN_PARTITIONS = 1
    whole = start(demo, *case)
    assert run_execution.execute_run(whole.pk) == "succeeded"
    settings.RUN_PARTITIONS, settings.RUN_PARTITION_MIN_ROWS = 3, 1
    split = start(demo, *case)
    assert run_execution.execute_run(split.pk) == "running"
    split.refresh_from_db()
    return Run.objects.get(pk=whole.pk), split


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_split_run_finds_exactly_what_a_whole_run_finds(demo, settings, case):
    whole, split = whole_then_split(demo, settings, case)
    assert split.partition_count == 3 and split.status == "running"
    statuses = execute_parts(split, order=[2, 3, 1])
    assert statuses == ["running", "running", "succeeded"]
    assert split.status == "succeeded" and split.progress == 100
    assert observed(split) == observed(whole) and split.break_count == whole.break_count
    assert split.by_severity == whole.by_severity
    if case[0] == "trades":
        matched = {r: run_matches(r).select("match_id", "rule").rows() for r in (whole, split)}
        assert matched[split] == matched[whole] and split.match_count == whole.match_count


def test_parts_hold_every_asset_once_with_suffixes_beside_their_asset(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    parts = list(RunPartition.objects.filter(run=run))
    assets = [a for part in parts for a in part.assets]
    assert len(assets) == len(set(assets))
    expected = set(frames.rows_by_partition_key(demo["book balances"]))
    expected |= set(frames.rows_by_partition_key(demo["kraken ledgers"]))
    assert set(assets) == expected and not any("." in a for a in assets)
    rows = sorted(part.row_count for part in parts)
    assert sum(rows) == demo["book balances"].row_count + demo["kraken ledgers"].row_count
    assert partitions.plan(run, 3) == partitions.plan(run, 3)  # the same split every time


def test_a_part_delivered_twice_and_the_run_task_again_store_nothing_twice(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    execute_parts(run)
    assert run.status == "succeeded"
    stored = observed(run)
    assert run_execution.execute_partition(run.pk, 1) == "succeeded"
    assert run_execution.execute_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert observed(run) == stored and run.break_count == len(stored)
    assert set(Break.objects.values_list("times_seen", flat=True)) == {1}
    assert RunPartition.objects.get(run=run, number=1).deliveries == 1


def test_a_part_whose_worker_died_is_done_again_and_the_run_finishes(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    execute_parts(run, order=[1, 2])
    RunPartition.objects.filter(run=run, number=3).update(status="running", deliveries=1)
    assert run_execution.execute_partition(run.pk, 3) == "succeeded"
    assert RunPartition.objects.get(run=run, number=3).deliveries == 2


def test_the_run_task_redelivered_after_every_part_was_done_merges_them(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    from reconciliation.engine import rule_definition
    from reconciliation.runs import engine_adapter as run_engine

    for number in (1, 2, 3):  # every part done, but the merge never happened (worker died)
        part = run_execution._claim_part(run.pk, number, "w")
        definition = rule_definition.validate(run.rule_set_version.definition)
        result = run_engine.reconcile(run, run_inputs.load_inputs(run, part.assets), definition)
        partitions.keep(part, result, 1)
    assert Run.objects.get(pk=run.pk).break_count is None
    assert run_execution.execute_run(run.pk) == "succeeded"
    stored = BreakObservation.objects.filter(run=run).count()
    assert Run.objects.get(pk=run.pk).break_count == stored


def test_a_part_given_up_after_three_deliveries_fails_the_run(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    RunPartition.objects.filter(run=run, number=2).update(status="running", deliveries=3)
    assert run_execution.execute_partition(run.pk, 2) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "Part 2" in run.message and "Start it again" in run.message
    assert run_execution.execute_partition(run.pk, 1) == "failed"  # the others stop too
    assert not BreakObservation.objects.filter(run=run).exists()


def test_cancel_between_parts_stops_the_run_and_stores_nothing(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    run_execution.execute_partition(run.pk, 1)
    runs.cancel_run(run, by=None)
    assert run_execution.execute_partition(run.pk, 2) == "cancelled"
    assert run_execution.execute_partition(run.pk, 3) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.break_count is None
    assert not BreakObservation.objects.filter(run=run).exists()


def test_small_runs_and_fee_runs_are_not_split(demo, settings):
    settings.RUN_PARTITIONS, settings.RUN_PARTITION_MIN_ROWS = 3, 10**9
    run = start(demo, "position", "book balances", "kraken ledgers")
    assert run_execution.execute_run(run.pk) == "succeeded" and not RunPartition.objects.exists()
    settings.RUN_PARTITION_MIN_ROWS = 1
    fees = start(demo, "fees", "book trades", "kraken trades")
    assert run_execution.execute_run(fees.pk) == "succeeded"
    assert Run.objects.get(pk=fees.pk).partition_count == 0


def test_runs_are_not_split_unless_configured(demo, settings):
    settings.RUN_PARTITION_MIN_ROWS = 1  # RUN_PARTITIONS keeps its default, 1
    run = start(demo, "trades", "book trades", "kraken trades")
    assert run_execution.execute_run(run.pk) == "succeeded" and not RunPartition.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_the_parts_of_a_run(settings):
    settings.RUN_PARTITION_MIN_ROWS = 1
    settings.RUN_PARTITIONS = 4
    demo = {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}
    extra = {"RUN_PARTITION_MIN_ROWS": "1", "RUN_PARTITIONS": "4"}
    with running_worker(concurrency=2, extra_env=extra) as (queue, _hostname), sending_to(queue):
        run = _wait(start(demo, "trades", "book trades", "kraken trades"))
    assert run.status == "succeeded", run.message
    assert run.partition_count == 4
    parts = RunPartition.objects.filter(run=run)
    assert {p.status for p in parts} == {"done"} and all(p.worker for p in parts)
    assert BreakObservation.objects.filter(run=run).count() == run.break_count


def _wait(run, timeout=120):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.status} ({run.phase})")


def test_a_cancelled_split_run_keeps_none_of_the_matches_its_parts_stored(demo, split_everything):
    run = start(demo, "trades", "book trades", "kraken trades")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    run_execution.execute_partition(run.pk, 1)
    assert run_matches(run).height  # a part stores its own matches
    runs.cancel_run(run, by=None)
    assert run_execution.execute_partition(run.pk, 2) == "cancelled"
    assert not MatchChunk.objects.filter(run=run).exists()


def test_a_part_stores_its_matches_once_even_when_delivered_again(demo, split_everything):
    run = start(demo, "trades", "book trades", "kraken trades")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    run_execution.execute_partition(run.pk, 1)
    stored = run_matches(run).height
    assert stored == RunPartition.objects.get(run=run, number=1).match_count
    run_execution.execute_partition(run.pk, 1)  # redelivered after it was done
    assert run_matches(run).height == stored
    execute_parts(run, order=[2, 3])
    assert run.status == "succeeded"
    assert run.match_count == run_matches(run).height
    assert run_matches(run).get_column("match_id").is_unique().all()


def test_a_part_finishing_after_the_run_failed_stores_nothing(demo, split_everything):
    run = start(demo, "trades", "book trades", "kraken trades")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    run_execution.finish(
        run, "failed", "Part 1 could not be read."
    )  # another part failed meanwhile
    assert run_execution.execute_partition(run.pk, 2) == "failed"
    assert not MatchChunk.objects.filter(run=run).exists()
    assert RunPartition.objects.get(run=run, number=2).status != "done"


def test_a_run_whose_breaks_are_stored_can_only_end_succeeded(demo):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None)  # stored, unfinished
    run_execution.finish(
        run, "cancelled", "Cancelled on request."
    )  # a late cancel from a second merge
    run.refresh_from_db()
    assert run.status == "succeeded" and run.break_count is not None


def test_a_merge_killed_again_and_again_fails_the_run_instead_of_looping(demo, split_everything):
    run = start(demo, "position", "book balances", "kraken ledgers")
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    execute_parts(run, order=[1, 2])
    Run.objects.filter(pk=run.pk).update(merges=run_execution.MAX_DELIVERIES)  # three merges died
    assert run_execution.execute_partition(run.pk, 3) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "Merging the run's parts" in run.message


def test_trades_sharing_an_id_across_pairs_stay_in_one_part(book, kraken, settings):
    from reconciliation.datasets import ingest

    header = "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at\n"
    rows = {
        book: ["T1,main,ETH/USD,buy,1,100,0,USD,2026-01-01T00:00:00Z",
               "T2,main,SOL/USD,buy,1,10,0,USD,2026-01-01T00:00:00Z",
               "T3,main,ADA/USD,buy,1,1,0,USD,2026-01-01T00:00:00Z"],
        kraken: ["T1,main,BTC/USD,buy,1,100,0,USD,2026-01-01T00:00:00Z",
                 "T2,main,SOL/USD,buy,1,10,0,USD,2026-01-01T00:00:00Z",
                 "T9,main,DOT/USD,buy,1,5,0,USD,2026-01-01T00:00:00Z"],
    }  # fmt: skip
    datasets = {
        account: ingest.import_file(
            source=account.source, account=account, format_code="generic-trades",
            data=(header + "\n".join(lines) + "\n").encode(), filename="t.csv",
        ).dataset
        for account, lines in rows.items()
    }  # fmt: skip
    settings.RUN_PARTITIONS, settings.RUN_PARTITION_MIN_ROWS = 1, 1
    whole = runs.start_run(type="trades", internal=datasets[book], external=datasets[kraken])
    run_execution.execute_run(whole.pk)
    settings.RUN_PARTITIONS = 4
    split = runs.start_run(type="trades", internal=datasets[book], external=datasets[kraken])
    run_execution.execute_run(split.pk)
    split.refresh_from_db()
    groups = [p.assets for p in RunPartition.objects.filter(run=split)]
    assert ["BTC", "ETH"] in groups  # linked by the id T1, booked under another pair
    execute_parts(split)
    assert split.status == "succeeded"
    assert observed(split) == observed(Run.objects.get(pk=whole.pk))
    keys = [key for key, *_ in observed(split)]
    assert "trades|main|T1|pair" in keys


def test_the_plan_reads_the_same_from_stored_frames_as_from_records(book, kraken):
    from reconciliation.datasets import ingest

    header = "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at"
    rows = {
        book: [header + ",exchange_trade_id",
               "B1,main,ETH/USD,buy,1,100,0,USD,2026-01-01T00:00:00Z,K7",
               "B2,main,SOL.S/USD,buy,1,10,0,USD,2026-01-01T00:00:00Z,",
               "K8,main,ADA/USD,buy,1,1,0,USD,2026-01-01T00:00:00Z,",
               "X1,main,XRP.S/USD,buy,1,1,0,USD,2026-01-01T00:00:00Z,"],
        kraken: [header,
                 "X1,main,XRP/USD,buy,1,1,0,USD,2026-01-01T00:00:00Z",
                 "K7,main,BTC/USD,buy,1,100,0,USD,2026-01-01T00:00:00Z",
                 "B2,main,DOT/USD,buy,1,10,0,USD,2026-01-01T00:00:00Z",
                 "K8,main,ADA/USD,buy,1,1,0,USD,2026-01-01T00:00:00Z"],
    }  # fmt: skip
    internal, external = (
        ingest.import_file(
            source=account.source, account=account, format_code="generic-trades",
            data=("\n".join(lines) + "\n").encode(), filename="t.csv",
        ).dataset
        for account, lines in rows.items()
    )  # fmt: skip
    frames.prepare(internal), frames.prepare(external)
    sides = (internal, external)
    stored = tuple(frames.stored(dataset) for dataset in sides)
    shared = frames.bases_sharing_trade_ids(internal, external, stored)
    assert shared == frames.bases_sharing_trade_ids(internal, external)
    # By exchange trade id; SOL.S is SOL, and an id under XRP and XRP.S links nothing.
    assert shared == [("BTC", "ETH"), ("DOT", "SOL")]
    planned = tuple(frames.stored(d, ["base", "trade_id", "exchange_trade_id"]) for d in sides)
    assert frames.bases_sharing_trade_ids(internal, external, planned) == shared
    for dataset, frame in zip(sides, stored, strict=True):
        assert frames.rows_by_partition_key(dataset, frame) == frames.rows_by_partition_key(dataset)
    assert frames.rows_by_partition_key(internal, stored[0])["XRP"] == 1


def test_a_plan_over_many_assets_holds_each_once_in_balanced_parts(demo, monkeypatch):
    run = start(demo, "position", "book balances", "kraken ledgers")
    counts = {f"A{n:06d}": 1 + n % 7 for n in range(200_000)}  # a book of 200,000 assets
    monkeypatch.setattr(frames, "rows_by_partition_key", lambda dataset, frame=None: counts)
    planned = partitions.plan(run, 4)
    assets = [asset for group, _ in planned for asset in group]
    assert len(assets) == len(set(assets)) == len(counts)
    totals = [rows for _, rows in planned]
    assert sum(totals) == 2 * sum(counts.values())  # both datasets counted
    assert max(totals) - min(totals) <= 2 * 7  # no part more than one asset's rows heavier
