"""Time ``save_round`` of a small round at the newest minute of a store that holds a history.

What `slawatch run` pays per round on a long-lived store: the round's rows, its
histogram merge, and the SLI refill and hour/day recomputation of its minutes, with the
default objectives tracked. ``--saves`` rounds of ``--users`` users are saved one after
another just after the store's newest round, on the same probe, target and runner, and
the median is printed. **It writes those rounds into the store**: point it at a copy
(``cp`` of the SQLite file; ``CREATE DATABASE copy TEMPLATE bench`` on PostgreSQL).

    cp /tmp/b10/sqlite.db /tmp/b10/copy.db
    .venv/bin/python bench/save_history.py --db sqlite:////tmp/b10/copy.db
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/store.py's round maker

from store import make_round

from probes.config import default_slos
from probes.results import ResultStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a copy of a store with a history")
    parser.add_argument("--saves", type=int, default=15)
    parser.add_argument("--users", type=int, default=3)
    args = parser.parse_args()
    with ResultStore.open(args.db) as store:
        store.track_slis(default_slos())
        now = datetime.now(UTC)
        recent = store.rounds_between(now - timedelta(days=30), now + timedelta(days=1))
        if not recent:
            raise SystemExit("no round in the last 30 days of this store: nothing to follow")
        newest = recent[0]  # newest first
        at = datetime.fromisoformat(newest["started_at"].replace("Z", "+00:00"))
        labels = {k: newest[k] for k in ("probe", "target", "runner")}
        times = []
        for i in range(args.saves):
            r = make_round(args.users, at + timedelta(seconds=7 * (i + 1)))
            r = replace(r, **labels, sessions=tuple(replace(s, **labels) for s in r.sessions))
            started = time.perf_counter()
            store.save_round(r)
            times.append((time.perf_counter() - started) * 1000)
    ms = sorted(times)
    print(f"{store.url.get_backend_name()}: save_round of {args.users} users after "
          f"{newest['started_at']}: median {statistics.median(ms):.1f} ms "
          f"(min {ms[0]:.1f}, max {ms[-1]:.1f}, {args.saves} saves)")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
