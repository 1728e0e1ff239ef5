"""Time ``ResultStore.save_round`` of one 1000-user round (7 events a session).

Prints the median of several saves on a fresh SQLite file, and on PostgreSQL
when ``--pg URL`` is given, with the machine it ran on.

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
            print(
                f"{name}: save_round of {args.sessions} sessions x {len(EVENTS)} events: "
                f"median {statistics.median(times):.0f} ms "
                f"(min {min(times):.0f}, max {max(times):.0f}, {args.repeats} saves)"
            )


if __name__ == "__main__":
    main()
