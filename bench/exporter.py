"""Time a ``/metrics`` scrape over 30 days of stored rounds of 10 probes.

Builds (or reuses) an SQLite store with the store's own row and rollup code,
in large transactions (``save_round`` one by one would take hours), then starts
the exporter and scrapes it over HTTP: once cold (the first scrape fills the
per-minute SLI cache of the threshold objectives), then ``--repeats`` times warm.

    .venv/bin/python bench/exporter.py   # --days 30 --probes 10 --every 300 --users 2 [--rebuild]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from probes.config import parse_settings
from probes.exposition.server import serve_metrics
from probes.records import AuthCheck, DbTiming, Event, MemorySample, RoundResult, SessionResult
from probes.results import ResultStore, db_timings, exposition, rounds, sessions
from probes.results.rows import round_row, session_row, timing_row
from probes.results.writes import _add_to_rollup
from tests.support.scrape import samples, scrape_text, total

EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
OPS = ("thread_create", "message_batch", "result_store", "data_retrieval")


def make_round(probe: str, at: datetime, users: int, rng: random.Random) -> RoundResult:
    run_id = uuid.uuid4().hex
    bad = rng.random() < 0.01
    target = f"ws://127.0.0.1:1/{probe}"
    people = tuple(
        SessionResult(
            run_id=run_id, probe=probe, target=target, runner="bench", user_id=f"u{i}",
            auth_mode="header", started_at=at, connect_ms=rng.uniform(1, 20),
            first_event_ms=rng.uniform(20, 600), completion_ms=rng.uniform(100, 6000),
            total_ms=100.0, close_code=1011 if bad else 1000,
            events=tuple(Event(e, 10.0 * k, seq=k + 1) for k, e in enumerate(EVENTS)),
            outcome="failed" if bad else "ok", reason="closed_abnormally" if bad else None,
        )
        for i in range(users)
    )  # fmt: skip
    timings = tuple(DbTiming(op, rng.uniform(1, 80), rng.uniform(1, 60), True) for op in OPS)
    memory = (MemorySample(at, 100.0), MemorySample(at, 100.0 + rng.uniform(0, 2)))
    return RoundResult(
        run_id, probe, target, "bench", at, at + timedelta(seconds=2),
        "failed" if bad else "passed", sessions=people, auth_check=AuthCheck(401, None, True),
        db_timings=timings, memory_samples=memory, memory_source="healthz",
    )  # fmt: skip


def build(url: str, days: int, probes: int, every_s: int, users: int) -> int:
    rng = random.Random(9)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    count = 0
    with ResultStore.open(url) as store:
        writer = store._writer
        at = start
        while at < end:
            batch = [
                make_round(f"probe-{p}", at + timedelta(seconds=k * every_s), users, rng)
                for k in range(200)
                for p in range(probes)
                if at + timedelta(seconds=k * every_s) < end
            ]
            with writer.begin() as conn:
                conn.execute(insert(rounds), [round_row(r) for r in batch])
                conn.execute(insert(sessions), [session_row(s) for r in batch for s in r.sessions])
                conn.execute(
                    insert(db_timings), [timing_row(r, t) for r in batch for t in r.db_timings]
                )
                _add_to_rollup(conn, [s for r in batch for s in r.sessions])
                for r in batch:
                    exposition.add_round(conn, r)
            count += len(batch)
            at += timedelta(seconds=200 * every_s)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--every", type=int, default=300, help="seconds between rounds")
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    folder = Path("artifacts/bench")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"exporter-{args.days}d-{args.probes}p-{args.every}s-{args.users}u.db"
    if args.rebuild and path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    if not path.exists():
        t0 = time.perf_counter()
        n = build(url, args.days, args.probes, args.every, args.users)
        print(f"built {n} rounds in {time.perf_counter() - t0:.1f} s ({path})")
    settings = parse_settings("")
    with ResultStore.open(url) as store:
        served = serve_metrics(store, settings, "127.0.0.1:0", "--listen")
        try:
            times, own = [], []
            for _ in range(args.repeats + 1):
                t0 = time.perf_counter()
                page = samples(scrape_text(served.port))
                times.append(time.perf_counter() - t0)
                own.append(total(page, "slawatch_scrape_duration_seconds"))
        finally:
            served.stop()
    print(f"machine: {platform.machine()}, {platform.python_version()}, {platform.platform()}")
    counted = total(page, "slawatch_ws_sessions_total")
    print(f"series on the page: {len(page)}; sessions counted: {counted:.0f}")
    print(
        f"cold scrape (fills the SLI cache if empty): {times[0]:.3f} s (collector {own[0]:.3f} s)"
    )
    warm = times[1:]
    print(
        f"warm scrapes: median {statistics.median(warm):.3f} s, max {max(warm):.3f} s "
        f"(collector median {statistics.median(own[1:]):.3f} s), {len(warm)} scrapes"
    )


if __name__ == "__main__":
    main()
