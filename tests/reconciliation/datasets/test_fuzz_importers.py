"""Fuzzing the importers: broken files give a refusal or a clean load, never another exception.

Every format in `ingest.FORMATS` gets seeded mutations of a real-layout sample (the exchange
samples in tests/data/exchange, generic CSV, JSON and XLSX): truncation, byte flips, inserted
NUL/CR/quotes/BOMs, huge numbers, other encodings, deep JSON, damaged workbooks. Each goes
through `ingest.parse_file` (the upload page's preview); every clean parse of a sampled subset
is also stored with `ingest.import_file` (the API's and the command's path) and read back.

Replaying: the failure message names the format, seed and mutations. A longer run:
FUZZ_EXAMPLES=2000 FUZZ_SEED=7 pytest tests/reconciliation/datasets/test_fuzz_importers.py
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import zipfile
import zlib
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import export
from reconciliation.datasets import ingest
from reconciliation.importers import base, chunks
from reconciliation.models import Account, Source
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.format_rows import GENERIC_ROWS, xlsx_of

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
STORE_EVERY = 4  # store every 4th clean parse (COPY and read-back), so the run stays short

GENERIC_FORMATS = {
    "generic-balances": "balances",
    "generic-trades": "trades",
    "generic-ledger": "ledger",
    "generic-margin": "margin",
    "generic-pnl": "pnl",
    "prices": "prices",
}
EXCHANGE_SAMPLES = {
    "kraken-ledgers": "kraken_ledgers.csv",
    "kraken-trades": "kraken_trades.csv",
    "coinbase": "coinbase_transactions.csv",
    "binance": "binance_trades.csv",
    "binance-statement": "binance_statement_2021.csv",
}

# Bytes and strings a careless or hostile file may hold.
TOKENS = [
    b"\x00", b"\r", b"\n", b"\r\n", b'"', b",", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xe2\x80",
    b"\t", b"\x1b[31m", b"\x7f", b"\xc2\x85", b"\xe2\x80\xa8", b"9" * 45, b"-", b".", b"..",
    b"1e308", b"NaN", b"-0", b"+.5", b"5.", b"[", b"{", b"]", b"}", b"\\", b"null", b"=1+1",
    b"0000-00-00", b"9999-12-31T23:59:59Z", b"2025-02-30 00:00:00", b"/", b"\xf0\x9f\x92\xb0",
    b"x" * 140_000,
]  # fmt: skip
KNOWN_FAILURES = (ingest.DatasetRejected,)


def csv_of(rows: list[dict]) -> bytes:
    names = list(dict.fromkeys(name for row in rows for name in row))
    lines = [",".join(names)]
    for row in rows:
        cells = [str(row.get(name, "")) for name in names]
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    return ("\n".join(lines) + "\n").encode()


def seeds(fmt: str) -> list[tuple[str, bytes]]:
    """(file name, content) to mutate: the real samples (first lines), or the generic rows."""
    if fmt in EXCHANGE_SAMPLES:
        name = EXCHANGE_SAMPLES[fmt]
        lines = (EXCHANGE / name).read_bytes().splitlines(keepends=True)
        return [(name, b"".join(lines[:40]))]
    rows = GENERIC_ROWS[GENERIC_FORMATS[fmt]]
    return [
        ("book.csv", csv_of(rows)),
        ("book.json", json.dumps(rows, indent=1).encode()),
        ("book.xlsx", xlsx_of(rows)),
    ]


# --- Mutations --------------------------------------------------------------------------------


def mutate(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes, list[str]]:
    """One to three mutations of `data`; returns the (maybe renamed) file, bytes and a log."""
    log = []
    for _ in range(rng.randint(1, 3)):
        if name.endswith(".xlsx") and _whole_zip(data):
            operation = rng.choice(XLSX_MUTATIONS)
        else:
            operation = rng.choice(TEXT_MUTATIONS)
        name, data, what = operation(rng, name, data)
        log.append(what)
    return name, data, log


def _whole_zip(data: bytes) -> bool:
    try:
        return zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError):
        return False


def _at(rng, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def truncate(rng, name, data):
    cut = _at(rng, data)
    return name, data[:cut], f"truncate at {cut}"


def flip(rng, name, data):
    if not data:
        return name, data, "flip (empty)"
    at = rng.randrange(len(data))
    value = rng.randrange(256)
    return name, data[:at] + bytes([value]) + data[at + 1 :], f"byte {at} = {value:#04x}"


def insert(rng, name, data):
    at, token = _at(rng, data), rng.choice(TOKENS)
    return name, data[:at] + token + data[at:], f"insert {token[:12]!r} at {at}"


def replace_field(rng, name, data):
    """A token in place of one comma-separated field (or one JSON value)."""
    fields = data.split(b",")
    index = rng.randrange(len(fields))
    token = rng.choice(TOKENS)
    fields[index] = token
    return name, b",".join(fields), f"field {index} = {token[:12]!r}"


def lines(rng, name, data):
    parts = data.splitlines(keepends=True)
    if len(parts) < 2:
        return name, data, "lines (too few)"
    index = rng.randrange(len(parts))
    how = rng.choice(["delete", "repeat", "swap", "blank"])
    if how == "delete":
        del parts[index]
    elif how == "repeat":
        parts.insert(index, parts[index])
    elif how == "swap":
        other = rng.randrange(len(parts))
        parts[index], parts[other] = parts[other], parts[index]
    else:
        parts.insert(index, b"\n" * rng.randint(1, 3))
    return name, b"".join(parts), f"{how} line {index}"


def line_ends(rng, name, data):
    ending = rng.choice([b"\r", b"\r\n", b"\n\r", b"\n"])
    unified = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return name, unified.replace(b"\n", ending), f"line ends {ending!r}"


def encoding(rng, name, data):
    codec = rng.choice(["utf-16", "utf-16-le", "latin-1", "cp1252", "utf-8-sig", "utf-32"])
    text = data.decode("utf-8", errors="replace") + "é€"
    return name, text.encode(codec, errors="replace"), f"encoded {codec}"


def deep_json(rng, name, data):
    depth = rng.choice([50, 990, 5_000, 100_000])
    where = rng.choice(["outside", "inside"])
    if where == "outside":
        return name, b"[" * depth + data + b"]" * depth, f"wrapped {depth} deep"
    at = data.find(b'"', 2)
    nested = b"[" * depth + b"]" * depth
    return name, data[:at] + b'"deep": ' + nested + b", " + data[at:], f"value {depth} deep"


def huge_number(rng, name, data):
    digits = rng.choice([b"9" * 21, b"0." + b"1" * 19, b"1" * 400, b"-" + b"9" * 38, b"1e-400"])
    fields = data.split(b",")
    index = rng.randrange(len(fields))
    fields[index] = digits
    return name, b",".join(fields), f"field {index} = {digits[:12]!r}..."


def rename(rng, name, data):
    other = rng.choice(["book.csv", "book.json", "book.txt", "book", "book.xlsx", "book.pdf"])
    return other, data, f"renamed {other}"


def in_header(rng, name, data):
    """A token inside the first line: the column names."""
    end = data.find(b"\n")
    end = len(data) if end < 0 else end
    at = rng.randrange(end + 1)
    token = rng.choice(TOKENS)
    return name, data[:at] + token + data[at:], f"header: insert {token[:12]!r} at {at}"


JSON_VALUES = [
    "\u0000", "a\u0000b", "\u001b[2J", "\ud800", "", " ", "-0", "1e400", "9" * 60, ".5", "5.",
    "2099-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "BTCUSD", "x" * 200,
]  # fmt: skip


def json_value(rng, name, data):
    """One JSON value (or key) replaced by an odd one, or a row given a key twice."""
    try:
        rows = json.loads(data)
        row = rng.choice(rows)
        key = rng.choice(list(row))
    except (ValueError, TypeError, IndexError, AttributeError, KeyError, RecursionError):
        return insert(rng, name, data)
    if not isinstance(row, dict):
        return insert(rng, name, data)
    how = rng.choice(["value", "key", "twice", "typed"])
    if how == "value":
        row[key] = rng.choice(JSON_VALUES)
    elif how == "key":
        row[rng.choice(JSON_VALUES)] = row.pop(key)
    elif how == "typed":
        row[key] = rng.choice([1.5, 10**30, -1, True, None, [1, [2]], {"a": {"b": 1}}, 0.1])
    text = json.dumps(rows)
    if how == "twice":
        text = text.replace(f'"{key}": ', f'"{key}": "dup", "{key}": ', 1)
    return name, text.encode(), f"json {how} {key!r}"


TEXT_MUTATIONS = [
    truncate, flip, insert, insert, replace_field, replace_field, lines, line_ends, encoding,
    deep_json, huge_number, rename, in_header, json_value, json_value,
]  # fmt: skip


def xlsx_member(rng, name, data):
    """A text mutation inside one part of the workbook, zipped again (the zip stays valid)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    members = [m for m in source.namelist() if m.endswith(".xml")]
    target = rng.choice(members)
    _, changed, what = rng.choice([truncate, flip, insert, replace_field])(
        rng, name, source.read(target)
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.namelist():
            out.writestr(member, changed if member == target else source.read(member))
    return name, buffer.getvalue(), f"{target}: {what}"


def xlsx_cells(rng, name, data):
    rows = [dict(row) for row in GENERIC_ROWS[rng.choice(list(GENERIC_ROWS))]]
    row = rng.choice(rows)
    key = rng.choice(list(row))
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    token = rng.choice(TOKENS).decode("utf-8", errors="replace")
    row[key] = ILLEGAL_CHARACTERS_RE.sub("", token)  # openpyxl cannot write the others
    return name, xlsx_of(rows, rng), f"workbook with {key}={row[key][:12]!r}, typed cells"


def xlsx_bytes(rng, name, data):
    return rng.choice([truncate, flip, insert])(rng, name, data)


XLSX_MUTATIONS = [xlsx_member, xlsx_member, xlsx_cells, xlsx_bytes]


# --- The property -----------------------------------------------------------------------------


@pytest.fixture
def accounts(db):
    """An account per source the formats load into (each exchange its own)."""
    made = {}
    for code, exchange in [("book", ""), ("kraken", "kraken"), ("coinbase", "coinbase"),
                           ("binance", "binance")]:  # fmt: skip
        kind = "internal" if code == "book" else "exchange"
        source = Source.objects.create(code=code, name=code, kind=kind, exchange=exchange)
        made[code] = Account.objects.create(source=source, code="main")
    made["prices"] = Source.objects.create(code="prices", name="Prices", kind="price_feed")
    return made


def target(accounts, fmt: str):
    if fmt == "prices":
        return accounts["prices"], None
    account = accounts[ingest.FORMATS[fmt].exchange or "book"]
    return account.source, account


def check_refusal(exc: ingest.DatasetRejected) -> None:
    assert exc.message and isinstance(exc.message, str)
    for error in exc.errors.first():
        assert isinstance(error.row, int) and error.row >= 0
        assert isinstance(error.column, str) and error.reason
    assert exc.errors.total >= len(exc.errors.first())


def check_load(source, account, fmt, name, data, parsed) -> None:
    """The full store path: the dataset holds every parsed row and reads back."""
    result = ingest.import_file(
        source=source, account=account, format_code=fmt, data=data, filename=name
    )
    assert result.dataset.row_count == parsed.table.num_rows
    out = io.StringIO()
    assert export.write_csv(result.dataset, out) == parsed.table.num_rows


@pytest.mark.parametrize("fmt", sorted(ingest.FORMATS))
def test_broken_files_are_refused_or_loaded_never_a_crash(accounts, fmt, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4000)  # large-file pieces on small samples too
    source, account = target(accounts, fmt)
    rng = random.Random(f"{SEED}:{fmt}")
    crashes, outcomes, clean = [], {"loaded": 0, "refused": 0}, 0
    for name, sample in seeds(fmt):
        for example in range(EXAMPLES):
            mutated_name, data, log = mutate(rng, name, sample)
            try:
                parsed = ingest.parse_file(
                    source=source, account=account, format_code=fmt, data=data,
                    filename=mutated_name,
                )  # fmt: skip
                clean += 1
                if clean % STORE_EVERY == 1:
                    check_load(source, account, fmt, mutated_name, data, parsed)
                outcomes["loaded"] += 1
            except KNOWN_FAILURES as exc:
                check_refusal(exc)
                outcomes["refused"] += 1
            except Exception as exc:  # the point: nothing else may escape
                crashes.append(f"{name} #{example} {log}: {type(exc).__name__}: {exc}"[:400])
    assert not crashes, f"{len(crashes)} crash(es), seed {SEED}:\n" + "\n".join(crashes[:8])
    assert outcomes["refused"] > 0  # the mutations really break files


@pytest.mark.parametrize("fmt", sorted(ingest.FORMATS))
def test_the_unmutated_samples_load(accounts, fmt):
    source, account = target(accounts, fmt)
    for name, data in seeds(fmt):
        parsed = ingest.parse_file(
            source=source, account=account, format_code=fmt, data=data, filename=name
        )
        check_load(source, account, fmt, name, data, parsed)


# --- Decimals: the check is exactly the documented grammar -------------------------------------


def documented_decimal(text: str) -> Decimal | None:
    """The value a cell stands for under docs/formats.md, or None if it must be refused."""
    body = text.strip()
    unsigned = body[1:] if body[:1] in "+-" else body
    whole, point, fraction = unsigned.partition(".")
    if not (whole or fraction) or not (whole + fraction).isascii():
        return None
    if not all(part.isdigit() or part == "" for part in (whole, fraction)):
        return None
    if len(whole) > 20 or len(fraction) > 18 or (point and unsigned.count(".") > 1):
        return None
    try:
        return Decimal(body)
    except InvalidOperation:
        return None


NUMBERISH = st.text(alphabet="0123456789.+-e, \t_x", max_size=45) | st.builds(
    lambda a, b: f"{a}.{b}", st.text("0123456789", max_size=22), st.text("0123456789", max_size=21)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NUMBERISH, min_size=1, max_size=8))
def test_the_decimal_check_is_the_documented_grammar(texts):
    errors = base.RowErrors()
    rows = pa.array(range(2, 2 + len(texts)), pa.int64())
    values = base.decimals(pa.array(texts, pa.string()), rows, "quantity", errors)
    refused = {error.row - 2 for error in errors.listed}
    for index, text in enumerate(texts):
        expected = documented_decimal(text)
        if expected is None:
            assert index in refused, text
        else:
            assert index not in refused, text
            assert Decimal(values[index].as_py()) == expected
            assert re.fullmatch(base.DECIMAL_PATTERN, values[index].as_py()), values[index]
