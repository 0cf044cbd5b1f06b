"""Trade matching (SPEC 2.1): the firm's fills against the exchange's trades, exact and vectorised.

Steps, each only on rows not matched yet: (a) by id, (b) one-to-one by account/pair/side, nearest
in time with quantity and price within tolerance, (c) split fills (trade_splits.py), (d) the rest
is missing on the other side. Fields of matched trades that differ beyond tolerance are breaks.

Money stays exact: Decimal(38,18) columns are compared as their Int128 units of 1e-18. polars 1.33
silently wraps Decimal products and rejects most Decimal divisions, so tolerance and percentage
arithmetic is done on those integers in ways that cannot overflow (see `within`, `with_percent`).
"""

from __future__ import annotations


