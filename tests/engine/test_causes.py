"""One test per likely cause of a balance break, each with its evidence."""

from __future__ import annotations

from datetime import timedelta

from reconciliation.engine import causes
from reconciliation.engine.balances import reconcile_balances
from tests.engine import T0, balances, evidence, ledger, rules


def only_break(internal, external, **ledgers) -> dict:
    found = reconcile_balances(internal, external, rules(), **ledgers)
    assert found.height == 1
    return found.row(0, named=True)


def test_decimal_shift_is_found_with_its_power():
    row = only_break(balances(("main", "BTC", "150")), balances(("main", "BTC", "1.5")))
    assert row["causes"] == [causes.DECIMAL_SHIFT]
    assert evidence(row)[causes.DECIMAL_SHIFT] == {"power": 2}


def test_decimal_shift_downwards_has_a_negative_power():
    row = only_break(balances(("main", "BTC", "0.00000015")), balances(("main", "BTC", "1.5")))
    assert evidence(row)[causes.DECIMAL_SHIFT] == {"power": -7}


def test_nine_places_is_not_a_decimal_shift():
    row = only_break(balances(("main", "BTC", "1500000000")), balances(("main", "BTC", "1.5")))
    assert row["causes"] == []


def test_sign_flip():
    row = only_break(balances(("main", "BTC", "-2")), balances(("main", "BTC", "2")))
    assert row["causes"] == [causes.SIGN_FLIP]


def test_missing_position_says_which_side_is_missing():
    row = only_break(balances(("main", "ETH", "1")), balances(("main", "BTC", "0")))
    assert row["causes"] == [causes.MISSING_POSITION]
    assert evidence(row)[causes.MISSING_POSITION] == {"missing_side": "external"}


def test_timing_external_entry_just_after_as_of_explains_the_difference():
    internal_ledger = ledger(
        {"amount": "1", "occurred_at": T0 - timedelta(hours=1)},
        {"amount": "0.5", "occurred_at": T0 - timedelta(seconds=1), "reference": "R1"},
    )
    external_ledger = ledger(
        {"amount": "1", "occurred_at": T0 - timedelta(hours=1)},
        {
            "amount": "0.5",
            "occurred_at": T0 + timedelta(seconds=2),
            "reference": "R1",
            "entry_id": "X9",
        },
    )
    row = only_break(
        balances(("main", "BTC", "1.5"), as_of=T0),
        balances(("main", "BTC", "1"), as_of=T0),
        internal_ledger=internal_ledger,
        external_ledger=external_ledger,
    )
    assert row["causes"] == [causes.TIMING]
    found = evidence(row)[causes.TIMING]
    assert found["side"] == "external" and found["entry_ids"] == ["X9"]
    assert found["amount"] == "0.500000000000000000"


def test_timing_outside_the_window_is_not_timing():
    external_ledger = ledger({"amount": "0.5", "occurred_at": T0 + timedelta(seconds=6)})
    row = only_break(
        balances(("main", "BTC", "1.5"), as_of=T0),
        balances(("main", "BTC", "1"), as_of=T0),
        internal_ledger=ledger({"amount": "1.5", "occurred_at": T0 - timedelta(hours=1)}),
        external_ledger=external_ledger,
    )
    assert causes.TIMING not in row["causes"]


def test_timing_between_two_different_as_of():
    later = T0 + timedelta(minutes=10)
    external_ledger = ledger({"amount": "0.25", "occurred_at": T0 + timedelta(minutes=3)})
    row = only_break(
        balances(("main", "BTC", "1.25"), as_of=later),
        balances(("main", "BTC", "1"), as_of=T0),
        internal_ledger=ledger({"amount": "1.25", "occurred_at": T0 - timedelta(hours=1)}),
        external_ledger=external_ledger,
    )
    assert causes.TIMING in row["causes"]


def test_unbooked_fee_single():
    row = only_break(
        balances(("main", "BTC", "1"), as_of=T0),
        balances(("main", "BTC", "0.9995"), as_of=T0),
        internal_ledger=ledger({"amount": "1", "occurred_at": T0 - timedelta(hours=1)}),
        external_ledger=ledger(
            {"amount": "1", "fee": "0.0005", "occurred_at": T0 - timedelta(hours=1)}
        ),
    )
    assert row["causes"] == [causes.UNBOOKED_FEE]
    found = evidence(row)[causes.UNBOOKED_FEE]
    assert found["side"] == "external" and found["entry_ids"] == ["E1"]


def test_unbooked_fee_sum_of_fees():
    external_ledger = ledger(
        *(
            {"amount": "1", "fee": "0.0001", "occurred_at": T0 - timedelta(minutes=m)}
            for m in (30, 20, 10)
        ),
    )
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "2.9997"), as_of=T0),
        internal_ledger=ledger({"amount": "3", "occurred_at": T0 - timedelta(hours=1)}),
        external_ledger=external_ledger,
    )
    assert row["causes"] == [causes.UNBOOKED_FEE]
    assert sorted(evidence(row)[causes.UNBOOKED_FEE]["entry_ids"]) == ["E1", "E2", "E3"]


def test_missing_deposit_on_the_internal_side():
    external_ledger = ledger(
        {"amount": "3", "occurred_at": T0 - timedelta(hours=2)},
        {
            "amount": "2",
            "type": "deposit",
            "reference": "DEP-7",
            "entry_id": "X2",
            "occurred_at": T0 - timedelta(hours=1),
        },
    )
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        internal_ledger=ledger({"amount": "3", "occurred_at": T0 - timedelta(hours=2)}),
        external_ledger=external_ledger,
    )
    assert row["causes"] == [causes.MISSING_DEPOSIT_WITHDRAWAL]
    found = evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]
    assert found["entry_ids"] == ["X2"] and found["references"] == ["DEP-7"]
    assert found["side"] == "external"


def test_missing_withdrawal_with_its_fee_on_the_external_side():
    internal_ledger = ledger(
        {"amount": "5", "occurred_at": T0 - timedelta(hours=2)},
        {
            "amount": "-1",
            "fee": "0.0005",
            "type": "withdrawal",
            "reference": "W-1",
            "occurred_at": T0 - timedelta(hours=1),
        },
    )
    row = only_break(
        balances(("main", "BTC", "3.9995"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        internal_ledger=internal_ledger,
        external_ledger=ledger({"amount": "5", "occurred_at": T0 - timedelta(hours=2)}),
    )
    assert causes.MISSING_DEPOSIT_WITHDRAWAL in row["causes"]
    assert evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]["side"] == "internal"


def test_deposit_present_on_both_sides_by_reference_is_not_missing():
    both = (
        {
            "amount": "2",
            "type": "deposit",
            "reference": "DEP-1",
            "occurred_at": T0 - timedelta(hours=1),
        },
    )
    row = only_break(
        balances(("main", "BTC", "4"), as_of=T0),
        balances(("main", "BTC", "2"), as_of=T0),
        internal_ledger=ledger(*both),
        external_ledger=ledger(*both),
    )
    assert causes.MISSING_DEPOSIT_WITHDRAWAL not in row["causes"]


def test_duplicate_internal_entry_with_the_same_reference():
    copy = {
        "amount": "1",
        "type": "deposit",
        "reference": "DEP-9",
        "occurred_at": T0 - timedelta(hours=1),
    }
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "2"), as_of=T0),
        internal_ledger=ledger({"amount": "1", "occurred_at": T0 - timedelta(hours=2)}, copy, copy),
        external_ledger=ledger({"amount": "1", "occurred_at": T0 - timedelta(hours=2)}, copy),
    )
    assert row["causes"][0] == causes.DUPLICATE
    found = evidence(row)[causes.DUPLICATE]
    assert found["entry_ids"] == ["E2", "E3"] and found["copies"] == 2


def test_duplicate_by_amount_and_time_without_reference():
    copy = {"amount": "0.7", "occurred_at": T0 - timedelta(hours=1)}
    row = only_break(
        balances(("main", "BTC", "1.4"), as_of=T0),
        balances(("main", "BTC", "0.7"), as_of=T0),
        internal_ledger=ledger(copy, copy),
        external_ledger=ledger(copy),
    )
    assert causes.DUPLICATE in row["causes"]


def test_causes_are_ordered_most_likely_first():
    # 2 vs -2 is a sign flip; an unrelated exchange fee of 4 explains it as well.
    row = only_break(
        balances(("main", "BTC", "2"), as_of=T0),
        balances(("main", "BTC", "-2"), as_of=T0),
        internal_ledger=ledger({"amount": "2", "occurred_at": T0 - timedelta(hours=1)}),
        external_ledger=ledger({"amount": "2", "fee": "4", "occurred_at": T0 - timedelta(hours=1)}),
    )
    assert row["causes"] == [causes.SIGN_FLIP, causes.UNBOOKED_FEE]


def test_without_ledgers_only_ledger_free_checks_run():
    row = only_break(balances(("main", "BTC", "1")), balances(("main", "BTC", "0.9995")))
    assert row["causes"] == []


# --- Only one side is a ledger (the book's balances against the exchange's ledger) -------------


def opening_then_deposit(opening: str, deposit: str, *, entry_id: str = "D1", hours: int = -1):
    """A ledger: an opening move two hours before T0, then a deposit `hours` from T0."""
    return ledger(
        {"amount": opening, "occurred_at": T0 - timedelta(hours=2)},
        {"amount": deposit, "type": "deposit", "entry_id": entry_id,
         "occurred_at": T0 + timedelta(hours=hours)},
    )  # fmt: skip


def test_deposit_on_the_only_ledger_of_exactly_the_difference_is_missing_in_the_book():
    external_ledger = ledger(
        {"amount": "3", "occurred_at": T0 - timedelta(hours=2)},
        {"amount": "2", "type": "deposit", "reference": "DEP-7", "entry_id": "X2",
         "occurred_at": T0 - timedelta(hours=1)},
    )  # fmt: skip
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        external_ledger=external_ledger,
    )
    assert row["causes"] == [causes.MISSING_DEPOSIT_WITHDRAWAL]
    found = evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]
    assert found["entry_ids"] == ["X2"] and found["references"] == ["DEP-7"]
    assert found["side"] == "external" and found["missing_in"] == "internal"
    assert found["amount"] == "2.000000000000000000"


def test_withdrawal_with_its_fee_on_the_only_ledger_is_missing_in_the_book():
    external_ledger = ledger(
        {"amount": "5", "occurred_at": T0 - timedelta(hours=2)},
        {"amount": "-1", "fee": "0.0005", "type": "withdrawal", "entry_id": "W1",
         "occurred_at": T0 - timedelta(hours=1)},
    )  # fmt: skip
    row = only_break(
        balances(("main", "BTC", "5"), as_of=T0),
        balances(("main", "BTC", "3.9995"), as_of=T0),
        external_ledger=external_ledger,
    )
    assert causes.MISSING_DEPOSIT_WITHDRAWAL in row["causes"]
    found = evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]
    assert found["entry_ids"] == ["W1"] and found["missing_in"] == "internal"
    assert found["amount"] == "-1.000500000000000000"


def test_a_move_on_the_books_only_ledger_is_missing_at_the_exchange():
    row = only_break(
        balances(("main", "BTC", "5"), as_of=T0),
        balances(("main", "BTC", "3"), as_of=T0),
        internal_ledger=opening_then_deposit("3", "2", entry_id="B2"),
    )
    found = evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]
    assert found["side"] == "internal" and found["missing_in"] == "external"


def test_a_move_on_the_only_ledger_of_another_amount_is_no_cause():
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        external_ledger=opening_then_deposit("3.5", "1.5"),
    )
    assert causes.MISSING_DEPOSIT_WITHDRAWAL not in row["causes"]


def test_a_move_after_the_balances_as_of_is_no_missing_move():
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        external_ledger=opening_then_deposit("5", "2", hours=1),
    )
    assert causes.MISSING_DEPOSIT_WITHDRAWAL not in row["causes"]


def test_a_missing_move_without_a_reference_on_either_side_is_found():
    # Its reference sorted by a longer key once raised "series lengths don't match".
    row = only_break(
        balances(("main", "BTC", "3"), as_of=T0),
        balances(("main", "BTC", "5"), as_of=T0),
        internal_ledger=ledger({"amount": "3", "occurred_at": T0 - timedelta(hours=2)}),
        external_ledger=opening_then_deposit("3", "2", entry_id="X2"),
    )
    found = evidence(row)[causes.MISSING_DEPOSIT_WITHDRAWAL]
    assert found["entry_ids"] == ["X2"] and found["references"] == []
