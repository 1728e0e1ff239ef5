"""Run another bench script and sum the time of every SQL statement it runs, by text.

SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` events time each
statement (an ``executemany`` counts once); at the end, the statements that took the
most time in all are printed with their call counts, then the total. How the writes
that grew with the history were found (docs/benchmarks.md, "Issue 11 (stop 20)"):
the statement that dominated was each time not the one expected. Usage:

    .venv/bin/python bench/sql_profile.py [--top 25] bench/dashboard.py --build-only ...
"""

from __future__ import annotations

import argparse
import atexit
import re
import runpy
import sys
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])


@event.listens_for(Engine, "before_cursor_execute")
def _started(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    conn.info.setdefault("sql_profile_started", []).append(time.perf_counter())


@event.listens_for(Engine, "after_cursor_execute")
def _ended(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    took = time.perf_counter() - conn.info["sql_profile_started"].pop()
    entry = _spent[re.sub(r"\s+", " ", statement)[:110]]
    entry[0] += 1
    entry[1] += took


def _report(top: int) -> None:
    total = sum(t for _, t in _spent.values())
    print(f"\n--- SQL: {total:.1f} s in all; the {top} statements that took the most:")
    for text, (calls, took) in sorted(_spent.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{took:9.2f} s {int(calls):8d} calls  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("script", help="the bench script to run, then its own arguments")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    atexit.register(_report, args.top)  # also when the script ends by SystemExit
    sys.argv = [args.script, *args.args]
    runpy.run_path(args.script, run_name="__main__")


if __name__ == "__main__":
    main()
