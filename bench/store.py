"""Time ``ResultStore.save_round`` of one 1000-user round (7 events a session).

Prints the median of several saves on a fresh SQLite file, and on PostgreSQL
when ``--pg URL`` is given, with the machine it ran on, and the bytes the store
holds per stored session (tables and indexes; on SQLite the whole file after a
checkpoint, on PostgreSQL ``pg_total_relation_size`` of every table). The
PostgreSQL database should be empty (a fresh schema): every table is counted.

    .venv/bin/python bench/store.py [--sessions 1000] [--repeats 7] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from probes.records import Event, RoundResult, SessionResult
from probes.results import ResultStore

EVENTS = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)


def make_round(sessions: int, at: datetime) -> RoundResult:
    run_id = uuid.uuid4().hex
    events = tuple(Event(kind, 10.0 * i, seq=i + 1) for i, kind in enumerate(EVENTS))
    users = tuple(
        SessionResult(
            run_id=run_id, probe="bench", target="ws://127.0.0.1:1/ws", runner="bench",
            user_id=f"u{i}", auth_mode="header", started_at=at, connect_ms=1.0,
            first_event_ms=5.0, completion_ms=60.0, total_ms=70.0, close_code=1000,
            events=events, outcome="ok",
        )
        for i in range(sessions)
    )  # fmt: skip
    return RoundResult(run_id, "bench", "ws://127.0.0.1:1/ws", "bench", at, at, "passed",
                       sessions=users)  # fmt: skip


def time_saves(url: str, sessions: int, repeats: int) -> list[float]:
    times = []
    with ResultStore.open(url) as store:
        start = datetime.now(UTC)
        for i in range(repeats):
            result = make_round(sessions, start + timedelta(minutes=i))
            t0 = time.perf_counter()
            store.save_round(result)
            times.append((time.perf_counter() - t0) * 1000)
    return times


def stored_bytes(url: str) -> int:
    """Bytes of every table and index of the store behind ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
                size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
                return int((pages - free) * size)
            query = text(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
            )
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pg", help="a PostgreSQL URL whose database may receive bench rows")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.pg:
            targets.append(("postgresql", args.pg))
        for name, url in targets:
            times = time_saves(url, args.sessions, args.repeats)
            per_session = stored_bytes(url) / (args.sessions * args.repeats)
            print(
                f"{name}: save_round of {args.sessions} sessions x {len(EVENTS)} events: "
                f"median {statistics.median(times):.0f} ms "
                f"(min {min(times):.0f}, max {max(times):.0f}, {args.repeats} saves); "
                f"{per_session:,.0f} bytes per stored session"
            )


if __name__ == "__main__":
    main()
