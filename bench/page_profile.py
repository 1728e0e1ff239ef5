"""Inside one dashboard process: where a page's time goes, and what its runs leave behind.

`profile`: cProfile around one cold run of the Stability page over `--range`
(the page script's own run, hooked where `bench/dashboard.py` times it), then around
`build_report` over the same range; prints the slowest of our functions by
cumulative time. `objects`: `--runs` AppTest runs of the Live page; every 100
runs the process's RSS and number of live objects, and at the end the object
types that grew most since run 300 (what a page run leaves behind). Both on an
existing store (`bench/dashboard.py --build-only` makes one). Usage:

    .venv/bin/python bench/page_profile.py profile --db sqlite:////tmp/year-bench/big.db
    .venv/bin/python bench/page_profile.py objects --db sqlite:////tmp/dm/small.db [--runs 1500]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import os
import platform
import pstats
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `dashboard` is the package, not bench/dashboard.py
APP = ROOT / "dashboard" / "app.py"

DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90, "1y": 365}
OURS = r"/(dashboard|probes)/"


def _app(url: str, page: str | None = None, query: str | None = None) -> Any:
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    config.set_option("server.address", "127.0.0.1")
    sys.argv = [str(APP), "--db", url]  # what `streamlit run app.py -- --db URL` gives
    at = AppTest.from_file(str(APP), default_timeout=300)
    if query:
        at.query_params["range"] = query
    if page:
        at.switch_page(page)
    return at


def profile(args: argparse.Namespace) -> None:
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    from dashboard import queries
    from dashboard.context import load_context
    from dashboard.report.model import build_report
    from probes.results import ResultStore

    page = cProfile.Profile()
    original = ScriptRunner._run_script
    runs: list[float] = []

    def profiled(self: Any, rerun_data: Any) -> None:  # the script's own run, as a server's
        started = time.perf_counter()
        page.enable()
        try:
            original(self, rerun_data)
        finally:
            page.disable()
            runs.append(time.perf_counter() - started)

    ScriptRunner._run_script = profiled  # type: ignore[method-assign]
    at = _app(args.db, "pages/stability.py", args.range)
    at.run()
    ScriptRunner._run_script = original  # type: ignore[method-assign]
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception[0].value}")
    print(f"\nStability {args.range}, cold, under the profiler: {runs[-1]:.2f} s")
    pstats.Stats(page).sort_stats("cumulative").print_stats(OURS, args.top)

    settings = load_context(["--db", args.db]).settings
    until = queries.window_end(queries.STEP_S)
    report = cProfile.Profile()
    with ResultStore(args.db) as store:
        started = time.perf_counter()
        report.enable()
        since = until - timedelta(days=DAYS[args.range])
        build_report(store, settings, since=since, until=until, now=until)
        report.disable()
    print(f"\nbuild_report {args.range}, under the profiler: {time.perf_counter() - started:.2f} s")
    pstats.Stats(report).sort_stats("cumulative").print_stats(OURS, args.top)


def objects(args: argparse.Namespace) -> None:
    proc = psutil.Process()
    started, marked = time.perf_counter(), collections.Counter[str]()
    for i in range(1, args.runs + 1):
        at = _app(args.db)
        at.run()
        if at.exception:
            raise SystemExit(f"the page failed: {at.exception[0].value}")
        if i % 100 == 0 or i == 300:
            gc.collect()
            live = gc.get_objects()
            if i == 300:
                marked = collections.Counter(type(o).__qualname__ for o in live)
            if i % 100 == 0:
                rss = proc.memory_info().rss / 1e6
                elapsed = time.perf_counter() - started
                print(f"run {i}: {elapsed:.0f} s, RSS {rss:.1f} MB, {len(live)} objects")
    gc.collect()
    grown = collections.Counter(type(o).__qualname__ for o in gc.get_objects()) - marked
    print("grown since run 300:", grown.most_common(25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("profile", "objects"))
    parser.add_argument("--db", required=True, help="store URL")
    parser.add_argument("--range", choices=tuple(DAYS), default="1y")
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--runs", type=int, default=1500)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    (profile if args.mode == "profile" else objects)(args)


if __name__ == "__main__":
    main()
