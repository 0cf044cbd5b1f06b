"""Importers: each turns one file or API answer into canonical rows of one kind."""

import pyarrow as pa

# Large files are parsed in pieces; each piece's scratch memory must go back to the system
# before the next, or the pieces' results end up scattered among freed pages and the process
# keeps them all. jemalloc with an immediate decay does that (measured on 1,000,000 Kraken
# trades in bench/ingest_kraken_trades.py; see docs/decisions.md).
try:
    pa.set_memory_pool(pa.jemalloc_memory_pool())
    pa.jemalloc_set_decay_ms(0)
except (NotImplementedError, pa.ArrowNotImplementedError):  # a pyarrow built without jemalloc
    pa.set_memory_pool(pa.system_memory_pool())
