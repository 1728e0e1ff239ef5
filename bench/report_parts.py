"""Time each step of a compliance report's evidence, and the whole report, on a store.

``build_report`` reads the window's raw sessions and its rounds, writes both as the
CSV evidence (whose SHA-256 every format states), groups the failures over them and
judges the objectives. On a year of 10 probes x 3 runners most of a report's time
was that evidence; this times its steps apart (the same calls ``_period`` makes),
then the whole ``build_report``, ``--repeats`` times interleaved, and prints the
medians. Run it with ``PYTHONPATH`` at another checkout to time that one's code on
the same store (a before/after in one sitting):

    .venv/bin/python bench/report_parts.py --db sqlite:////tmp/b10/sqlite.db --days 365
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/report_parts.py --db URL
    .venv/bin/python bench/report_parts.py --days 365 \
        --db 'postgresql+psycopg://postgres@127.0.0.1:5432/bench?options=-csearch_path%3DNAME'

(``bench/dashboard.py --build-only`` builds such a store; its PostgreSQL schema's
name is in the ``.json`` beside the SQLite file.)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

# `dashboard` is the package (installed, or at PYTHONPATH), not bench/dashboard.py
HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import probes  # noqa: E402


def steps(url: str, days: float) -> list[tuple[str, Callable[[], Any]]]:
    from dashboard.context import load_context
    from dashboard.queries import STEP_S, window_end
    from dashboard.report import failures, model
    from probes import tables
    from probes.export import SESSION_FIELDS, to_text
    from probes.records import Filters
    from probes.results import ResultStore

    settings = load_context(["--db", url]).settings
    until = window_end(STEP_S)
    since, until = model.align(until - timedelta(days=days), until)
    every = Filters()
    kept: dict[str, Any] = {}

    def read_sessions() -> int:
        with ResultStore(url) as store:
            kept["sessions"] = list(store.iter_sessions(since, until, every))
        return len(kept["sessions"])

    def read_rounds() -> int:
        with ResultStore(url) as store:
            kept["rounds"] = store.rounds_between(since, until, every)
        return len(kept["rounds"])

    def sessions_csv() -> int:
        return len(to_text(kept["sessions"], SESSION_FIELDS, "csv"))

    def rounds_csv() -> int:
        return len(to_text(kept["rounds"], tables.ROUND_FIELDS, "csv"))

    def grouped() -> int:
        with ResultStore(url) as store:
            found = failures.failure_groups(store, kept["sessions"], kept["rounds"], settings.slos)
        return len(found)

    def whole() -> int:
        with ResultStore(url) as store:
            report = model.build_report(store, settings, since=since, until=until, now=until)
        return report.main.evidence.records

    return [
        ("read sessions (iter_sessions)", read_sessions),
        ("read rounds (rounds_between)", read_rounds),
        ("sessions CSV", sessions_csv),
        ("rounds CSV", rounds_csv),
        ("failure groups (no DB timings)", grouped),
        ("whole build_report", whole),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="store URL (SQLite or PostgreSQL)")
    parser.add_argument("--days", type=float, default=365.0, help="the report's window")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" warnings
    print(f"code: {os.path.dirname(probes.__file__)}; report over {args.days:g} days")
    plan = steps(args.db, args.days)
    times: dict[str, list[float]] = {name: [] for name, _ in plan}
    sizes: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, step in plan:
            started = time.perf_counter()
            sizes[name] = step()
            times[name].append(time.perf_counter() - started)
    for name, _ in plan:
        ts = sorted(times[name])
        print(f"{name:34} median {statistics.median(ts):7.2f} s  (min {ts[0]:.2f}, "
              f"max {ts[-1]:.2f}; {sizes[name]:,})")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
