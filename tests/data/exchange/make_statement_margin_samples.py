#!/usr/bin/env python3
"""Generate the Binance statement samples and Kraken's margin answers (issue 12, item 3).

Standard library only, seeded, deterministic:  python3 make_statement_margin_samples.py

Writes next to this script:
* binance_statement_2021.csv         layout S2 (`User_ID,UTC_Time,…`), UTC, oldest first,
                                     Change padded to 8 places
* binance_statement_2025(UTC+1).csv  layout S3 (BOM, `User ID,Time,…`, two-digit years), local
                                     time UTC+1 as the file name says, newest first, CRLF,
                                     Change without trailing zeros
* kraken_api/TradeBalance.json, kraken_api/OpenPositions.json
* statement_margin_expected.json     the figures the tests check, computed here from the
                                     generated Decimals (never by reading the files back)

The figures are simulated, consistent (no wallet ever goes below zero) and exact; the layouts
follow /work/shared/EXCHANGE-FORMATS.md section 5.2 and Kraken's documented answers.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2026_0312
USER = "38271946"
D = Decimal

# Operation -> the ledger type the importer is meant to give it (checked by the tests).
TYPES_2021 = {
    "Deposit": "deposit", "Withdraw": "withdrawal", "Buy": "trade", "Sell": "trade",
    "Fee": "fee", "Transaction Related": "trade", "Small assets exchange BNB": "convert",
    "POS savings purchase": "earn", "POS savings interest": "earn",
    "POS savings redemption": "earn", "Savings Interest": "earn", "Launchpool Interest": "earn",
    "ETH 2.0 Staking": "staking", "ETH 2.0 Staking Rewards": "staking",
    "Distribution": "reward", "Commission History": "commission",
}  # fmt: skip
TYPES_2025 = {
    "Deposit": "deposit", "Withdraw": "withdrawal", "Transaction Buy": "trade",
    "Transaction Spend": "trade", "Transaction Sold": "trade", "Transaction Revenue": "trade",
    "Transaction Fee": "fee", "Binance Convert": "convert", "Small Assets Exchange BNB": "convert",
    "Simple Earn Flexible Subscription": "earn", "Simple Earn Flexible Interest": "earn",
    "Simple Earn Flexible Redemption": "earn", "Simple Earn Locked Rewards": "earn",
    "Transfer Between Main and Funding Wallet": "transfer",
    "Transfer Between Spot Account and UM Futures Account": "transfer",
    "Funding Fee": "futures", "Realized Profit and Loss": "futures", "P2P Trading": "p2p",
    "Staking Rewards": "staking", "Distribution": "reward",
}  # fmt: skip
PRICES = {"BTC": D("47012.35"), "ETH": D("3411.27"), "BNB": D("512.4"), "ADA": D("1.312"),
          "SOL": D("171.55"), "USDT": D("1"), "DOT": D("21.08")}  # fmt: skip


def q8(x: Decimal) -> Decimal:
    return x.quantize(D("0.00000001"), rounding=ROUND_DOWN)


def plain(x: Decimal) -> str:
    return "0" if x == 0 else format(x.normalize(), "f")


class Statement:
    """Rows of one user's history, with running balances per (account, coin) kept >= 0."""

    def __init__(self, rng: random.Random, start: datetime):
        self.rng = rng
        self.time = start
        self.rows: list[tuple[datetime, str, str, str, Decimal, str]] = []
        self.held: dict[tuple[str, str], Decimal] = defaultdict(Decimal)

    def tick(self, low=600, high=90_000) -> datetime:
        self.time += timedelta(seconds=self.rng.randint(low, high))
        return self.time

    def row(self, account, operation, coin, change: Decimal, remark="", at=None) -> None:
        self.held[account, coin] += change
        assert self.held[account, coin] >= 0, (account, coin, change)
        self.rows.append((at or self.time, account, operation, coin, change, remark))

    def has(self, account, coin) -> Decimal:
        return self.held[account, coin]


def trade(s: Statement, ops: tuple[str, str, str], base, quote, *, buy: bool, fills: int,
          bnb_fee: bool) -> None:  # fmt: skip
    """One order of `fills` fills in one second: the same-sized fills repeat identical rows."""
    got_op, paid_op, fee_op = ops
    price = PRICES[base] * (1 + D(s.rng.randint(-300, 300)) / 10_000)
    size = D(s.rng.choice(["0.01", "0.025", "0.1", "0.5", "1.2", "12", "150"]))
    size = size if base not in ("ADA", "USDT") else size * 100
    if not buy:
        size = min(size, q8(s.has("Spot", base) / fills)) if s.has("Spot", base) else D(0)
    if size <= 0:
        return
    same = s.rng.random() < 0.5  # fills of one size: identical rows, which are legitimate
    for index in range(fills):
        amount = size if same or index == 0 else q8(size * D(s.rng.randint(20, 100)) / 100)
        cost = q8(amount * price)
        if buy and s.has("Spot", quote) < cost:
            return
        fee_coin, fee = ("BNB", q8(cost * D("0.00075") / PRICES["BNB"])) if bnb_fee else (
            (base, q8(amount * D("0.001"))) if buy else (quote, q8(cost * D("0.001")))
        )  # fmt: skip
        if bnb_fee and s.has("Spot", "BNB") < fee:
            fee_coin, fee = (
                (base, q8(amount * D("0.001"))) if buy else (quote, q8(cost * D("0.001")))
            )
        if buy:
            s.row("Spot", paid_op, quote, -cost)
            s.row("Spot", got_op, base, amount)
        else:
            s.row("Spot", paid_op, base, -amount)
            s.row("Spot", got_op, quote, cost)
        s.row("Spot", fee_op, fee_coin, -fee)


def history_2021(rng: random.Random) -> Statement:
    s = Statement(rng, datetime(2021, 3, 1, 9, 12, 44, tzinfo=UTC))
    s.row("Spot", "Deposit", "USDT", D("25000.00000000"))
    s.tick()
    s.row("Spot", "Deposit", "BNB", D("4.50000000"))
    for _ in range(34):
        s.tick()
        roll = rng.random()
        base = rng.choice(["BTC", "ETH", "ADA", "DOT"])
        buy = s.has("Spot", base) == 0 or roll < 0.6
        ops = ("Buy", "Buy", "Fee") if buy else ("Sell", "Sell", "Fee")
        if rng.random() < 0.25:
            ops = ("Transaction Related", "Transaction Related", "Fee")
        trade(s, ops, base, "USDT", buy=buy, fills=rng.choice([1, 1, 2, 3]), bnb_fee=roll < 0.5)
        if rng.random() < 0.2 and s.has("Spot", "BNB") > 1:
            s.tick()
            s.row("Spot", "POS savings purchase", "BNB", D("-1.00000000"))
            s.tick(86_400, 200_000)
            s.row("Spot", "POS savings interest", "BNB", q8(D("0.00041") * rng.randint(1, 9)))
            s.tick()
            s.row("Spot", "POS savings redemption", "BNB", D("1.00000000"))
        if rng.random() < 0.15:
            s.tick()
            s.row("Spot", "Savings Interest", "USDT", q8(D(rng.randint(10, 900)) / 1000))
    s.tick()
    eth = q8(s.has("Spot", "ETH") / 2)
    if eth > 0:
        s.row("Spot", "ETH 2.0 Staking", "ETH", -eth)
        s.row("Spot", "ETH 2.0 Staking", "BETH", eth)
        for _ in range(3):
            s.tick(86_400, 90_000)
            s.row("Spot", "ETH 2.0 Staking Rewards", "BETH", q8(eth * D("0.00013")))
    s.tick()
    s.row("Spot", "Launchpool Interest", "ALPHA", D("3.11580000"))
    s.tick()
    s.row("Spot", "Distribution", "BTTC", D("1204.53000000"), "Airdrop")
    s.tick()
    s.row("Spot", "Commission History", "USDT", D("0.42150000"))
    s.tick()
    for coin in ("ALPHA",):
        s.row("Spot", "Small assets exchange BNB", coin, -s.has("Spot", coin))
    s.row("Spot", "Small assets exchange BNB", "BNB", D("0.01871634"))
    s.tick()
    out = q8(s.has("Spot", "USDT") / 3)
    s.row("Spot", "Withdraw", "USDT", -out, "Withdraw fee is included")
    return s


def history_2025(rng: random.Random) -> Statement:
    s = Statement(rng, datetime(2025, 1, 6, 8, 0, 5, tzinfo=UTC))
    s.row("Spot", "Deposit", "USDT", D("40000"))
    s.tick()
    s.row("Spot", "Deposit", "BNB", D("6.2"))
    s.tick()
    s.row("Funding", "P2P Trading", "USDT", D("1500"))
    s.tick()
    s.row("Funding", "Transfer Between Main and Funding Wallet", "USDT", D("-1500"))
    s.row("Spot", "Transfer Between Main and Funding Wallet", "USDT", D("1500"))
    for _ in range(36):
        s.tick()
        base = rng.choice(["BTC", "ETH", "SOL", "ADA"])
        buy = s.has("Spot", base) == 0 or rng.random() < 0.6
        ops = (("Transaction Buy", "Transaction Spend", "Transaction Fee") if buy
               else ("Transaction Revenue", "Transaction Sold", "Transaction Fee"))  # fmt: skip
        trade(s, ops, base, "USDT", buy=buy, fills=rng.choice([1, 2, 2, 4]),
              bnb_fee=rng.random() < 0.5)  # fmt: skip
        if rng.random() < 0.2 and s.has("Spot", "USDT") > 2000:
            s.tick()
            s.row("Spot", "Simple Earn Flexible Subscription", "USDT", D("-1000"), "Binance Earn")
            s.row("Earn", "Simple Earn Flexible Subscription", "USDT", D("1000"), "Binance Earn")
            s.tick(86_400, 90_000)
            s.row(
                "Earn", "Simple Earn Flexible Interest", "USDT", q8(D(rng.randint(50, 400)) / 1000)
            )
            s.tick()
            s.row("Earn", "Simple Earn Flexible Redemption", "USDT", D("-1000"), "Binance Earn")
            s.row("Spot", "Simple Earn Flexible Redemption", "USDT", D("1000"), "Binance Earn")
    s.tick()
    if s.has("Spot", "SOL") > 0:
        sol = q8(s.has("Spot", "SOL") / 4)
        s.row("Spot", "Binance Convert", "SOL", -sol)
        s.row("Spot", "Binance Convert", "USDT", q8(sol * PRICES["SOL"]))
    s.tick()
    s.row("Spot", "Transfer Between Spot Account and UM Futures Account", "USDT", D("-3000"))
    s.row("USD-MFutures", "Transfer Between Spot Account and UM Futures Account", "USDT",
          D("3000"))  # fmt: skip
    for _ in range(6):
        s.tick(28_800, 28_800)
        s.row("USD-MFutures", "Funding Fee", "USDT", -q8(D(rng.randint(100, 9000)) / 10_000))
    s.tick()
    s.row("USD-MFutures", "Realized Profit and Loss", "USDT", D("182.3315"))
    s.row("USD-MFutures", "Realized Profit and Loss", "USDT", D("-41.07"))
    s.tick()
    s.row("Spot", "Staking Rewards", "DOT", D("0.4271"))
    s.tick()
    s.row("Spot", "Simple Earn Locked Rewards", "BNB", D("0.00318"), "Binance Earn")
    s.tick()
    s.row("Spot", "Distribution", "IO", D("12.5"), "Airdrop Assets")
    s.tick()
    s.row("Spot", "Small Assets Exchange BNB", "DOT", -s.has("Spot", "DOT"))
    s.row("Spot", "Small Assets Exchange BNB", "BNB", D("0.01522"))
    s.tick()
    s.row("Spot", "Withdraw", "USDT", -q8(s.has("Spot", "USDT") / 2))
    return s


def statement_csv(s: Statement, *, layout: str) -> bytes:
    if layout == "S2":
        lines = ["User_ID,UTC_Time,Account,Operation,Coin,Change,Remark"]
        for at, account, operation, coin, change, remark in s.rows:
            when = at.strftime("%Y-%m-%d %H:%M:%S")
            lines.append(f"{USER},{when},{account},{operation},{coin},{change:.8f},{remark}")
        return ("\n".join(lines) + "\n").encode()
    lines = ["User ID,Time,Account,Operation,Coin,Change,Remark"]
    for at, account, operation, coin, change, remark in reversed(s.rows):
        when = (at + timedelta(hours=1)).strftime("%y-%m-%d %H:%M:%S")  # UTC+1, 2-digit year
        lines.append(f"{USER},{when},{account},{operation},{coin},{plain(change)},{remark}")
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode()


def expectations(s: Statement, types: dict[str, str]) -> dict:
    net: dict[str, Decimal] = defaultdict(Decimal)
    wallets: dict[str, Decimal] = defaultdict(Decimal)
    for _, account, _, coin, change, _ in s.rows:
        net[coin] += change
        wallets[f"{coin} | {account}"] += change
    contents = Counter((at, a, o, c, plain(x), r) for at, a, o, c, x, r in s.rows)
    times = sorted(row[0] for row in s.rows)
    return {
        "data_rows": len(s.rows),
        "rows_repeating_an_earlier_row": sum(n - 1 for n in contents.values()),
        "first_utc": times[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_utc": times[-1].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "net_by_asset": {coin: plain(value) for coin, value in sorted(net.items())},
        "net_by_asset_and_wallet": {k: plain(v) for k, v in sorted(wallets.items())},
        "types": dict(sorted(Counter(types[row[2]] for row in s.rows).items())),
    }


# --- Kraken margin ------------------------------------------------------------------------------

KRAKEN_PRICES = {"XXBT": D("87311.2"), "XETH": D("2950.41"), "ZEUR": D("1.084"), "ZUSD": D(1),
                 "USDC": D("0.9998"), "SOL": D("141.37"), "DOT": D("4.512"), "ADA": D("0.7183"),
                 "XXDG": D("0.2011")}  # fmt: skip
ASSETS = {"XXBT": "BTC", "XETH": "ETH"}  # Kraken's codes as the default asset codes map them
# (position id, order id, pair, side, opened at, vol, vol closed, open price, leverage)
POSITIONS = [
    ("TQ4B7N-FJ2RD-5SXW3C", "OHM3VA-RZ7TQ-K2N4YD", "XXBTZUSD", "sell", "2026-02-27 11:02:15.4471",
     "1.25000000", "0.00000000", "89012.4", 5),
    ("T7PLKC-2YQ6V-MC9E8A", "O4GZTN-W2XH5-QE7RLU", "XETHZUSD", "buy", "2026-02-27 11:40:03.1207",
     "10.00000000", "2.50000000", "2921.17", 4),
    ("TD3R8W-K5NHZ-UBX61F", "OPL2C8-9DKSA-MW4VTR", "XETHZUSD", "buy", "2026-02-27 13:15:51.9004",
     "0.50000000", "0.00000000", "2935.80", 4),
]  # fmt: skip


def q4(x: Decimal) -> Decimal:
    return x.quantize(D("0.0001"))


def kraken_margin() -> tuple[dict, dict, dict]:
    assets = json.loads((HERE / "kraken_api" / "Assets.json").read_text())["result"]
    balances = json.loads((HERE / "kraken_api" / "Balance.json").read_text())["result"]
    eb = sum(D(amount) * KRAKEN_PRICES[code.split(".")[0]] for code, amount in balances.items())
    tb = sum(
        D(amount) * KRAKEN_PRICES[code] * D(str(assets[code]["collateral_value"]))
        for code, amount in balances.items()
        if assets.get(code, {}).get("collateral_value") is not None
    )
    positions, totals = {}, defaultdict(Decimal)
    for pid, oid, pair, side, opened, vol, closed, price, leverage in POSITIONS:
        held = D(vol) - D(closed)
        cost = (held * D(price)).quantize(D("0.00001"))
        now = KRAKEN_PRICES[pair[:4]]
        value = (held * now).quantize(D("0.00001"))
        net = (value - cost) if side == "buy" else (cost - value)
        fee = (cost * D("0.004")).quantize(D("0.00001"))
        margin = (cost / leverage).quantize(D("0.00001"))
        moment = datetime.strptime(opened, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        positions[pid] = {
            "ordertxid": oid, "posstatus": "open", "pair": pair,
            "time": float(f"{moment.timestamp():.4f}"), "type": side, "ordertype": "limit",
            "cost": f"{cost:.5f}", "fee": f"{fee:.5f}", "vol": vol, "vol_closed": closed,
            "margin": f"{margin:.5f}", "value": f"{value:.5f}", "net": f"{net:+.4f}",
            "terms": "0.0200% per 4 hours", "rollovertm": str(int(moment.timestamp()) + 14_400),
            "misc": "", "oflags": "",
        }  # fmt: skip
        for name, amount in (("m", margin), ("n", net), ("c", cost), ("v", value)):
            totals[name] += amount
    e = q4(tb) + q4(totals["n"])
    balance = {
        "eb": f"{q4(eb):.4f}", "tb": f"{q4(tb):.4f}", "m": f"{q4(totals['m']):.4f}",
        "uv": "2500.0000", "n": f"{q4(totals['n']):.4f}", "c": f"{q4(totals['c']):.4f}",
        "v": f"{q4(totals['v']):.4f}", "e": f"{e:.4f}", "mf": f"{e - q4(totals['m']):.4f}",
        "ml": f"{(e / q4(totals['m']) * 100).quantize(D('0.01')):.2f}",
    }  # fmt: skip
    open_by_asset: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, pair, side, _, vol, closed, *_ in POSITIONS:
        open_by_asset[pair[:4]] += (D(vol) - D(closed)) * (1 if side == "buy" else -1)
    expected = {
        "trade_balance_asset": "ZUSD",
        "collateral": balance["tb"],
        "used_margin": balance["m"],
        "open_position": {ASSETS[code]: plain(v) for code, v in sorted(open_by_asset.items())},
        "positions": len(POSITIONS),
    }
    return {"error": [], "result": balance}, {"error": [], "result": positions}, expected


def main() -> None:
    rng = random.Random(SEED)
    early, late = history_2021(rng), history_2025(rng)
    (HERE / "binance_statement_2021.csv").write_bytes(statement_csv(early, layout="S2"))
    (HERE / "binance_statement_2025(UTC+1).csv").write_bytes(statement_csv(late, layout="S3"))
    balance, positions, margin = kraken_margin()
    for name, body in (("TradeBalance.json", balance), ("OpenPositions.json", positions)):
        (HERE / "kraken_api" / name).write_text(json.dumps(body, indent=2) + "\n")
    expected = {
        "seed": SEED,
        "binance_statement_2021.csv": expectations(early, TYPES_2021),
        "binance_statement_2025(UTC+1).csv": expectations(late, TYPES_2025),
        "kraken_margin": margin,
    }
    (HERE / "statement_margin_expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
