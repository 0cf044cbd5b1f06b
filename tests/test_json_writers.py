"""The JSON writers made once for speed write what the standard encoders write, byte for byte:
the audit's canonical JSON (hashed, so a byte off breaks the chain) and COPY's JSON columns."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import chain
from config.copy_insert import _json_writer

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False) | st.decimals(allow_nan=False, allow_infinity=False)
           | st.datetimes(timezones=st.just(UTC)))  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(), children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_canonical_json_is_json_dumps_with_the_documented_options(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=chain._default)  # fmt: skip
    assert chain.canonical_json(value) == expected


@settings(max_examples=400, deadline=None)
@given(values)
def test_a_json_column_is_written_as_its_encoder_writes_it(value):
    for encoder in (DjangoJSONEncoder(), json.JSONEncoder(default=str)):
        assert _json_writer(encoder)(value) == encoder.encode(value)


def test_an_encoder_that_encodes_its_own_way_is_used_as_it_is():
    class Shouting(json.JSONEncoder):
        def encode(self, o):
            return super().encode(o).upper()

    assert _json_writer(Shouting())({"a": "b"}) == '{"A": "B"}'
    assert _json_writer(DjangoJSONEncoder())({"at": datetime(2026, 12, 3, tzinfo=UTC),
                                              "n": Decimal("1.10")}) == (
        '{"at": "2026-12-03T00:00:00Z", "n": "1.10"}'
    )  # fmt: skip
