"""Time the histogram merge of ``save_round`` on an existing, large store (rolled back).

``save_round`` merges each round's latency and DB-timing histograms into the stored
per-minute, per-hour and per-day rows (``probes.results.histograms.save``): it
reads the rows of the round's keys, merges and writes them back. This times that
step on a store that already holds a history (``bench/dashboard.py --build-only``
makes one), for one round's keys (one location's newest keys: what `slawatch run`
writes) and for a batch of 500 keys (what a history load or a spill import writes),
each in a transaction that is rolled back, so the store is unchanged. Medians of
``--repeats``. Run it with ``PYTHONPATH`` at another checkout to time that one's
code on the same store (a before/after in one sitting):

    .venv/bin/python bench/histogram_save.py --db sqlite:////tmp/b10/sqlite.db
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/histogram_save.py --db URL
    .venv/bin/python bench/histogram_save.py --db postgresql+psycopg://... --schema NAME
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

from sqlalchemy import create_engine, text

import probes
from probes.results import histograms

KEYS = "width, minute, probe, target, runner, metric"


def timed(engine: Any, keys: list[tuple[Any, ...]], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        found = {k: histograms.Histogram() for k in keys}
        for h in found.values():
            h.add(12.5)
        with engine.connect() as conn:
            started = time.perf_counter()
            histograms.save(conn, found)
            out.append(time.perf_counter() - started)
            conn.rollback()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="store URL (SQLite or PostgreSQL)")
    parser.add_argument("--schema", help="PostgreSQL schema of the store (bench/dashboard.py's)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    options = {"connect_args": {"options": f"-csearch_path={args.schema}"}} if args.schema else {}
    engine = create_engine(args.db, **options)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM histograms")).scalar_one()
        located = "SELECT probe, runner FROM histograms WHERE probe <> '' LIMIT 1"
        probe, runner = conn.execute(text(located)).one()  # a location, not the pooled rows
        newest = f"SELECT {KEYS} FROM histograms ORDER BY minute DESC LIMIT 500"
        mine = (
            f"SELECT {KEYS} FROM histograms WHERE probe = :p AND runner = :r"
            " ORDER BY minute DESC LIMIT 18"
        )
        found = conn.execute(text(mine), {"p": probe, "r": runner})
        round_keys = [tuple(k) for k in found]
        batch_keys = [tuple(k) for k in conn.execute(text(newest))]
    print(f"code: {os.path.dirname(probes.__file__)}; store: {engine.url.get_backend_name()}, "
          f"{rows:,} histogram rows")  # fmt: skip
    for name, keys in (("one round", round_keys), ("a batch", batch_keys)):
        times = timed(engine, keys, args.repeats)
        ms = sorted(t * 1000 for t in times)
        print(f"{name} ({len(keys)} keys): median {statistics.median(ms):.1f} ms "
              f"(min {ms[0]:.1f}, max {ms[-1]:.1f}, {args.repeats} saves)")  # fmt: skip
    engine.dispose()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
