"""Time a ``/metrics`` scrape over 30 days of stored rounds of 10 probes.

Builds (or reuses) a store with the store's own row and rollup code, in large
transactions (``save_round`` one by one would take hours): an SQLite file in
``artifacts/bench/``, or with ``--pg URL`` a schema of that PostgreSQL database
named after the sizes. Then it opens the store (the migrations run), tracks the
default objectives as a runner does at its start (the first time, this fills the
per-minute SLI cache), starts the exporter and scrapes it over HTTP once cold,
then ``--repeats`` times warm.

    .venv/bin/python bench/exporter.py   # --days 30 --probes 10 --every 300 --users 2
                                         # [--repeats 7] [--rebuild] [--pg URL] [--db FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, make_url, text

# tests.support; appended, so that PYTHONPATH=<an older checkout> runs that code.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from probes.config import parse_settings
from probes.exposition.server import serve_metrics
from probes.records import AuthCheck, DbTiming, Event, MemorySample, RoundResult, SessionResult
from probes.results import ResultStore, db_timings, exposition, rounds, sessions
from probes.results.rows import round_row, session_row, timing_row
from probes.results.writes import _add_to_rollup
from tests.support.scrape import samples, scrape_text, total

try:  # the hourly roll-up's auth checks (revision 0011 on); older code has none
    from probes.results.writes import _add_auth_checks
except ImportError:  # pragma: no cover - an older checkout, for before/after runs
    _add_auth_checks = None  # type: ignore[assignment]

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
                if _add_auth_checks is not None:
                    _add_auth_checks(conn, batch)
                exposition.add_rounds(conn, batch)
            count += len(batch)
            at += timedelta(seconds=200 * every_s)
    return count


def pg_schema(url: str, name: str, *, rebuild: bool) -> tuple[str, bool]:
    """A URL whose connections use schema ``name`` (created), and whether it has rounds."""
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            if rebuild:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{name}"'))
            filled = conn.execute(
                text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{name}".rounds'}
            ).scalar_one()
    finally:
        admin.dispose()
    schema_url = make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
    return schema_url.render_as_string(hide_password=False), bool(filled)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--every", type=int, default=300, help="seconds between rounds")
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL database instead of SQLite")
    parser.add_argument("--db", metavar="FILE", help="this SQLite file (default: artifacts/bench/)")
    args = parser.parse_args()
    sizes = f"{args.days}d-{args.probes}p-{args.every}s-{args.users}u"
    if args.pg:
        url, filled = pg_schema(args.pg, f"bench_exporter_{sizes.replace('-', '_')}",
                                rebuild=args.rebuild)  # fmt: skip
        where = "PostgreSQL"
    else:
        folder = Path("artifacts/bench")
        folder.mkdir(parents=True, exist_ok=True)
        path = Path(args.db) if args.db else folder / f"exporter-{sizes}.db"
        if args.rebuild and path.exists():
            path.unlink()
        url, filled, where = f"sqlite:///{path}", path.exists(), str(path)
    if not filled:
        t0 = time.perf_counter()
        n = build(url, args.days, args.probes, args.every, args.users)
        print(f"built {n} rounds in {time.perf_counter() - t0:.1f} s ({where})")
    settings = parse_settings("")
    t0 = time.perf_counter()
    with ResultStore.open(url) as store:
        opened = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.track_slis(settings.slos)  # what a runner does at its start
        tracked = time.perf_counter() - t0
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
    print(f"store: {where}; load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"open (migrations): {opened:.2f} s; track_slis (runner start): {tracked:.2f} s")
    counted = total(page, "slawatch_ws_sessions_total")
    print(f"series on the page: {len(page)}; sessions counted: {counted:.0f}")
    print(f"first scrape: {times[0]:.3f} s (collector {own[0]:.3f} s)")
    warm = times[1:]
    print(
        f"warm scrapes: median {statistics.median(warm):.3f} s, max {max(warm):.3f} s "
        f"(collector median {statistics.median(own[1:]):.3f} s), {len(warm)} scrapes"
    )


if __name__ == "__main__":
    main()
