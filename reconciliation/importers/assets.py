"""Asset codes: exchange codes to one name per asset (XXBT, XBT -> BTC), suffixes kept.

The mapping is data (the `AssetAlias` table, editable by admins); `DEFAULT_ALIASES` is what a
new installation starts with. A staking or earn suffix (`.S`, `.M`, `.F`, `.B`, `.P`, `.HOLD`)
marks a separate balance of the same coin, so `XBT.M` becomes `BTC.M`, never `BTC`.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

# (exchange, code) -> asset; exchange "" applies to every source.
DEFAULT_ALIASES: dict[tuple[str, str], str] = {
    ("kraken", "XXBT"): "BTC",
    ("kraken", "XBT"): "BTC",
    ("kraken", "XETH"): "ETH",
    ("kraken", "XLTC"): "LTC",
    ("kraken", "XXRP"): "XRP",
    ("kraken", "XXLM"): "XLM",
    ("kraken", "XXDG"): "DOGE",
    ("kraken", "XDG"): "DOGE",
    ("kraken", "XXMR"): "XMR",
    ("kraken", "XZEC"): "ZEC",
    ("kraken", "XETC"): "ETC",
    ("kraken", "XMLN"): "MLN",
    ("kraken", "XREP"): "REP",
    ("kraken", "ZUSD"): "USD",
    ("kraken", "ZEUR"): "EUR",
    ("kraken", "ZGBP"): "GBP",
    ("kraken", "ZCAD"): "CAD",
    ("kraken", "ZJPY"): "JPY",
    ("kraken", "ZAUD"): "AUD",
    ("kraken", "ZCHF"): "CHF",
}

# Kraken's earn wallets hold the balances its API reports under suffixed codes (DOT.S, USDC.M,
# ADA.F). Kraken documents the suffixes, not this mapping: it is inferred from matching exports.
KRAKEN_WALLET_SUFFIX = {
    "spot / main": "",
    "earn / bonded": ".S",
    "earn / flexible": ".M",
    "earn / liquid": ".F",
    "earn / locked": ".B",
}

ASSET_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}(\.[A-Z0-9]{1,8})?$")


def aliases_for(exchange: str, table: dict[tuple[str, str], str]) -> dict[str, str]:
    """The code -> asset map for one exchange ("" entries apply everywhere, exchange wins)."""
    merged = {code: asset for (ex, code), asset in table.items() if ex == ""}
    merged.update({code: asset for (ex, code), asset in table.items() if ex == exchange})
    return merged


def normalise_code(code: str, aliases: dict[str, str]) -> str:
    """One code: upper-cased, mapped; a suffix after the first '.' is kept as it is."""
    code = code.strip().upper()
    if code in aliases:
        return aliases[code]
    base, dot, suffix = code.partition(".")
    if dot and base in aliases:
        return f"{aliases[base]}.{suffix}"
    return code


def normalise_assets(values: pa.Array, aliases: dict[str, str]) -> pa.Array:
    """Vectorised `normalise_code`: maps each distinct code once."""
    values = values.cast(pa.string())
    distinct = pc.unique(values).to_pylist()
    mapped = [None if code is None else normalise_code(code, aliases) for code in distinct]
    index = pc.index_in(values, pa.array(distinct, pa.string()))
    return pc.take(pa.array(mapped, pa.string()), index)


def malformed_assets(values: pa.Array) -> pa.Array:
    """True where a (normalised) asset code is not a plausible code."""
    return pc.invert(pc.fill_null(pc.match_substring_regex(values, ASSET_CODE.pattern), False))


# Display precision (docs/decisions.md): fiat to the cent, every other asset to 8 places (the
# satoshi; exchanges quote and settle coins to 8 or fewer), trailing zeros trimmed. Amounts are
# stored exactly; only pages round, and they show the exact value beside a rounded one.
FIAT = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "TRY",
        "ZAR",
        "SGD",
        "HKD",
        "CNY",
        "KRW",
        "INR",
        "BRL",
        "MXN",
        "AED",
        "SAR",
        "ILS",
    }
)
FIAT_PLACES = 2
COIN_PLACES = 8


def display_places(asset: str, *, fiat: frozenset[str] = FIAT) -> int:
    """How many decimal places pages show for an amount of this asset (suffix ignored)."""
    return FIAT_PLACES if asset.partition(".")[0].upper() in fiat else COIN_PLACES
