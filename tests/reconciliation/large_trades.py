"""Large trade files for the worker-killed tests: an exchange's, and a book that mostly agrees."""

from datetime import UTC, datetime, timedelta

TRADES = 100_000  # exchange trades; the book has as many rows (90% of them plus 10% of its own)


START = datetime(2025, 1, 1, tzinfo=UTC)


PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "DOGE/USD"]


def _trade_files(count: int) -> tuple[bytes, bytes]:
    """(book, exchange) trades: 10% only at the exchange, 10% price off, 10% only in the book."""
    exchange = ["trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at"]
    book = [exchange[0] + ",order_id,exchange_trade_id"]
    for k in range(count):
        pair, side = PAIRS[k % 4], ("buy" if (k // 4) % 2 else "sell")
        quantity = f"{1 + (k * 7919) % 5000}.{k % 100_000:05d}"
        price = f"{100 + (k * 104_729) % 90_000}"
        at = (START + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        exchange.append(f"E{k},main,{pair},{side},{quantity},{price}.25,0.5,USD,{at}")
        if k % 10 == 0:
            continue  # the book missed this fill
        booked_price = f"{price}.95" if k % 10 == 1 else f"{price}.25"
        book.append(f"B{k},main,{pair},{side},{quantity},{booked_price},0.5,USD,{at},O{k},E{k}")
    for j in range(count // 10):  # fills the exchange never saw (no quantity or price like theirs)
        at = (START + timedelta(seconds=600 * j + 30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        book.append(f"X{j},main,BTC/USD,buy,0.{j:07d}3,7.5,0.1,USD,{at},OX{j},")
    return ("\n".join(book) + "\n").encode(), ("\n".join(exchange) + "\n").encode()
