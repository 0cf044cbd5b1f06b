"""An approval is bound to a correction's content hash: its bytes are json.dumps's of the
content with sorted keys, written member by member for speed; both must agree on any content."""

import hashlib
import json
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import chain
from corrections.models import Correction
from corrections.proposals import Texts, _t, content_hash
from corrections.services.common import state, state_json

texts = st.text()  # any text: quotes, backslashes, control characters, non-ASCII
numbers = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=18)
rows = st.none() | st.dictionaries(st.text(), st.text() | st.integers() | st.none(), max_size=4)


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 2**62), st.integers(1, 2**31), texts, texts, texts, texts, texts,
       st.sampled_from(list(Correction.Operation)), numbers, numbers, numbers, rows)  # fmt: skip
def test_the_content_hash_is_that_of_the_sorted_json_content(
    break_id, dataset_id, kind, target, field, original_text, corrected_text, operation,
    original, corrected, delta, row,
):  # fmt: skip
    correction = SimpleNamespace(
        break_record_id=break_id, dataset_id=dataset_id, record_kind=kind, target=target,
        field=field, operation=operation, original_value=original, corrected_value=corrected,
        delta=delta, original_text=original_text, corrected_text=corrected_text, trade_row=row,
    )  # fmt: skip
    content = {
        "break": break_id, "dataset": dataset_id, "kind": kind, "target": target,
        "field": field, "operation": operation, "original": _t(original),
        "corrected": _t(corrected), "delta": _t(delta), "original_text": original_text,
        "corrected_text": corrected_text, "row": row,
    }  # fmt: skip
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    assert content_hash(correction) == hashlib.sha256(text.encode()).hexdigest()


def test_a_changed_value_changes_the_hash():
    base = dict(break_record_id=1, dataset_id=2, record_kind="balances", target="BTC",
                field="quantity", operation="adjust", original_value=Decimal("1"),
                corrected_value=Decimal("2"), delta=Decimal("1"), original_text="",
                corrected_text="", trade_row=None)  # fmt: skip
    changed = {**base, "corrected_value": Decimal("2.000000000000000001")}
    assert content_hash(SimpleNamespace(**base)) != content_hash(SimpleNamespace(**changed))


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2), st.booleans(), st.integers(1, 2**62), texts, numbers, texts, numbers,
       texts, numbers, st.sampled_from(list(Correction.Operation)), numbers, texts, texts,
       st.sampled_from(list(Correction.Status)), texts)  # fmt: skip
def test_the_audited_state_text_is_the_chains_json_of_the_state(
    approvals, auto, break_id, content, corrected, corrected_text, delta, field, impact,
    operation, original, original_text, policy, status, target,
):  # fmt: skip
    # The audit hashes and stores `state_json`'s text as it is: it must be the text the chain
    # makes of `state` (else a run's entries would not verify).
    correction = SimpleNamespace(
        approvals_required=approvals, auto_approved=auto, break_record_id=break_id,
        content_hash=content, corrected_value=corrected, corrected_text=corrected_text,
        delta=delta, field=field, impact_rc=impact, operation=operation,
        original_value=original, original_text=original_text, policy_note=policy,
        status=status, target=target,
    )  # fmt: skip
    assert state_json(correction) == chain.stored_json(state(correction))


@settings(max_examples=1000, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False) | st.decimals(places=18))
def test_the_plans_reversed_delta_is_the_text_of_the_negated_delta(delta):
    # The rollback plan writes -delta from delta's text instead of negating and writing again.
    if not delta.is_finite():
        return
    assert Texts(_t(delta), "", _t(delta)).reversed_delta == _t(-delta)
