"""`python -m bench [NAME ...] [--rows N]`: run benchmarks in fresh processes; print figures."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = {
    "ingest": "bench.ingest_kraken_trades",
    "breaks-list": "bench.breaks_list",
    "end-to-end": "bench.end_to_end",
    "corrections": "bench.corrections",
    "book": "bench.book",
    "corrections-queue": "bench.corrections_queue",
    "reports": "bench.reports",
    "overview": "bench.overview",
}
ROOT = Path(__file__).resolve().parent.parent


def _child(name: str, rows: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import importlib

    from config.embedded import data_dir

    folder = data_dir() / "bench"
    folder.mkdir(exist_ok=True)
    figures = importlib.import_module(BENCHMARKS[name]).run(rows, folder)
    print("RESULT " + json.dumps({"benchmark": name, **figures}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.rows)
        return 0
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}")
    failed = False
    for name in args.names or list(BENCHMARKS):
        command = [sys.executable, "-m", "bench", "--child", name, "--rows", str(args.rows)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        print(done.stdout, end="")
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
