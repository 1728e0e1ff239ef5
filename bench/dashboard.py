"""Dashboard at scale: 30 days of one round a minute of 10 users, then time every page.

Builds the database with the real store code (``ResultStore.save_round`` of
generated ``RoundResult`` records; about 432,000 sessions by default), then
prints, for each page, how long its queries take without the cache (cold)
and with it (warm), and an ``AppTest`` run of the page cold and warm.

    .venv/bin/python bench/dashboard.py                 # build (or reuse) and time
    .venv/bin/python bench/dashboard.py --days 1        # a quick look
    .venv/bin/python bench/dashboard.py --markdown      # also print the docs section

The database is kept in artifacts/bench/ and reused while its newest round is
less than a day old (``--rebuild`` forces a new one). Figures, not asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
DEFAULT_DB = ROOT / "artifacts" / "bench" / "dashboard.db"
EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
TARGET = "ws://127.0.0.1:8765/ws"


# --- generating the history ------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the generated month looks like: mostly healthy, one bad afternoon, a leak, a deploy."""

    fail_rate: float = 0.002  # sessions failing for a random reason on an ordinary minute
    incident_rate: float = 0.15  # ... during the incident hours
    leak_rate: float = 0.002  # rounds whose target grew past the memory threshold
    slow_db_rate: float = 0.005


def _events(rng: random.Random, first: float, done: float, seq0: int = 1) -> list[Any]:
    from probes.records import Event

    steps = [first + (done - first) * f for f in (0.0, 0.2, 0.45, 0.7, 1.0)]
    return [
        Event(kind, round(ms + rng.uniform(0, 2), 1), seq0 + i)
        for i, (kind, ms) in enumerate(zip(EVENTS, steps, strict=True))
    ]


def make_session(
    rng: random.Random, run_id: str, user: int, started: datetime, bad: float, slow: float
) -> Any:
    """One user's session: ok, or failed in one of the ways real targets fail."""
    from probes.records import SessionResult

    connect = rng.lognormvariate(1.6, 0.4)
    first = connect + rng.lognormvariate(4.1, 0.35) * slow
    done = first + rng.lognormvariate(5.8, 0.3) * slow
    base: dict[str, Any] = {
        "run_id": run_id,
        "probe": "default",
        "target": TARGET,
        "runner": "bench",
        "user_id": f"probe-user-{user}",
        "auth_mode": "header" if user % 2 == 0 else "subprotocol",
        "started_at": started,
        "connect_ms": connect,
        "agent_run_id": uuid.uuid4().hex[:12],
        "db_ms": {"result_store": round(rng.lognormvariate(1.5, 0.4), 2)},
    }
    if rng.random() >= bad:
        events = tuple(_events(rng, first, done))
        return SessionResult(
            **base,
            first_event_ms=first,
            completion_ms=done,
            total_ms=done + 3,
            close_code=1000,
            sent_close_code=1000,
            events=events,
            outcome="ok",
        )
    kind = rng.choice(("1011", "refused", "dropped", "cross_talk", "missing"))
    events = tuple(_events(rng, first, done))
    if kind == "refused":
        return SessionResult(
            **{**base, "connect_ms": None},
            http_status=503,
            total_ms=connect,
            missing_events=EVENTS,
            outcome="failed",
            reason="refused",
            error="refused: HTTP 503 (server at capacity)",
        )
    if kind in ("1011", "dropped"):
        code = 1011 if kind == "1011" else 1006
        return SessionResult(
            **base,
            first_event_ms=first,
            total_ms=events[2].ms + 1,
            close_code=code,
            events=events[:3],
            missing_events=EVENTS[3:],
            outcome="failed",
            reason="closed_abnormally",
            error=f"closed with {code} after {EVENTS[2]}",
        )
    if kind == "cross_talk":
        return SessionResult(
            **base,
            first_event_ms=first,
            completion_ms=done,
            total_ms=done + 3,
            close_code=1000,
            events=events,
            foreign_events=2,
            outcome="failed",
            reason="isolation_breach",
            error="isolation_breach: 2 event(s) of another user",
        )
    return SessionResult(
        **base,
        first_event_ms=first,
        completion_ms=done,
        total_ms=done + 3,
        close_code=1000,
        events=events[:1] + events[2:],
        missing_events=(EVENTS[1],),
        outcome="failed",
        reason="incomplete",
        error="incomplete: agent_thinking never arrived",
    )


def make_round(
    rng: random.Random,
    started: datetime,
    users: int,
    shape: Shape,
    *,
    incident: bool,
    after_deploy: bool,
) -> Any:
    """One round of ``users`` sessions with its auth check, DB timings and memory samples."""
    from probes.records import AuthCheck, DbTiming, MemorySample, RoundResult, round_status

    run_id = uuid.uuid4().hex
    bad = shape.incident_rate if incident else shape.fail_rate
    slow = 1.25 if after_deploy else 1.0
    sessions = tuple(make_session(rng, run_id, u, started, bad, slow) for u in range(users))
    slow_db = rng.random() < shape.slow_db_rate
    timings = tuple(
        DbTiming(op, ms * 1.3, ms, True)
        for op in ("thread_create", "message_batch", "result_store", "data_retrieval")
        for ms in [rng.lognormvariate(1.8, 0.4) * (12 if slow_db else 1)]
    )
    base = 80 + rng.uniform(-2, 2)
    growth = 60.0 if rng.random() < shape.leak_rate else rng.uniform(-0.5, 1.5)
    samples = tuple(
        MemorySample(started + timedelta(seconds=0.25 * k), base + growth * k / 5) for k in range(6)
    )
    auth = AuthCheck(401, None, True)
    return RoundResult(
        run_id=run_id,
        probe="default",
        target=TARGET,
        runner="bench",
        started_at=started,
        finished_at=started + timedelta(seconds=1.4),
        status=round_status(sessions, auth, timings),
        sessions=sessions,
        auth_check=auth,
        db_timings=timings,
        memory_samples=samples,
        memory_source="healthz",
    )


def rounds(days: float, users: int, every_s: float, end: datetime, seed: int) -> Iterator[Any]:
    """The month, oldest first: an incident 3 days before the end, a deploy 5 days before."""
    rng = random.Random(seed)
    shape = Shape()
    count = int(days * 86400 / every_s)
    start = end - timedelta(seconds=count * every_s)
    incident = (end - timedelta(days=3), end - timedelta(days=3) + timedelta(hours=2))
    deploy = end - timedelta(days=5)
    for i in range(count):
        at = start + timedelta(seconds=i * every_s)
        yield make_round(
            rng,
            at,
            users,
            shape,
            incident=incident[0] <= at < incident[1],
            after_deploy=at >= deploy,
        )


def build(path: Path, days: float, users: int, every_s: float, seed: int) -> dict[str, Any]:
    """Write the history with ``save_round``; returns what was built and how long it took."""
    from probes.records import Annotation
    from probes.results import ResultStore

    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    n = sessions = 0
    with ResultStore.open(f"sqlite:///{path}") as store:
        for r in rounds(days, users, every_s, end, seed):
            store.save_round(r)
            n += 1
            sessions += len(r.sessions)
            if n % 5000 == 0:
                print(
                    f"  {n:,} rounds, {sessions:,} sessions, {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        store.add_annotation(Annotation("deploy", end - timedelta(days=5), None, "deploy v2.4.0"))
        store.add_annotation(Annotation("incident", end - timedelta(days=3), None, "1011 storm"))
        store.add_annotation(
            Annotation(
                "maintenance",
                end - timedelta(days=10),
                end - timedelta(days=10, hours=-1),
                "DB failover drill",
            )
        )
    meta = {
        "end": end.isoformat(),
        "rounds": n,
        "sessions": sessions,
        "days": days,
        "users": users,
        "every_s": every_s,
        "seed": seed,
        "build_s": round(time.perf_counter() - started, 1),
    }
    Path(f"{path}.json").write_text(json.dumps(meta, indent=1))
    return meta


def reusable(path: Path, days: float, users: int, every_s: float) -> dict[str, Any] | None:
    meta_path = Path(f"{path}.json")
    if not path.exists() or not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    fresh = datetime.now(UTC) - datetime.fromisoformat(meta["end"]) < timedelta(days=1)
    same = (meta["days"], meta["users"], meta["every_s"]) == (days, users, every_s)
    return meta if fresh and same else None


def upgrade(path: Path) -> str:
    """Bring a reused database to the newest schema (what ``slawatch`` does on start)."""
    from probes.results import ResultStore

    url = f"sqlite:///{path}"
    with ResultStore(url) as store:
        before = store.schema_version()
    started = time.perf_counter()
    with ResultStore.open(url) as store:
        after = store.schema_version()
    if before == after:
        return ""
    return f"{before} -> {after} in {time.perf_counter() - started:.1f} s"


# --- timing ------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def page_queries(url: str) -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    """What each page asks the store for, through dashboard.queries, in page order."""
    from dashboard import chartdata, queries
    from dashboard.context import load_context
    from probes.records import Filters

    settings = load_context(["--db", url]).settings
    live_until = queries.window_end(queries.LIVE_TTL_S)
    until = queries.window_end(queries.STEP_S)
    hour = timedelta(hours=1)
    every = Filters()

    def first_round() -> Any:
        frame = queries.latest_rounds(url, live_until, every)
        return queries.round_detail(url, str(frame["run_id"].iloc[0]))

    def judged() -> Any:
        return queries.objectives(url, settings, until - hour, until, every, slo_windows=True)

    out = {
        "live": [
            ("store_status", lambda: queries.store_status(url)),
            ("failing_sessions (1h)", lambda: queries.failing_sessions(
                url, live_until - hour, live_until, every)),
            ("latest_rounds", lambda: queries.latest_rounds(url, live_until, every)),
            ("objectives (each over its 30d window)", judged),
            ("round_detail", first_round),
        ]
    }  # fmt: skip
    for label, span in (("24h", 1), ("7d", 7), ("30d", 30)):
        since = until - timedelta(days=span)
        b = chartdata.bucket_for(since, until)
        s = since
        out[f"stability {label}"] = [
            ("labels", lambda: queries.labels(url)),
            ("objectives", lambda s=s: queries.objectives(url, settings, s, until, every)),
            ("latency percentiles", lambda s=s, b=b: queries.latency(url, s, until, every, b)),
            ("memory", lambda s=s, b=b: queries.memory(url, s, until, every, b)),
            ("close codes", lambda s=s, b=b: queries.close_codes(url, s, until, every, b)),
            ("completeness", lambda s=s, b=b: queries.completeness(url, s, until, every, b)),
            ("db timings", lambda s=s, b=b: queries.db_timings(url, s, until, every, b)),
            ("annotations", lambda s=s: queries.notes(url, s, until, None)),
        ]  # fmt: skip
    return out


def time_queries(url: str) -> list[tuple[str, str, float, float]]:
    import streamlit as st

    rows = []
    for page, calls in page_queries(url).items():
        st.cache_data.clear()
        for name, call in calls:
            cold = timed(call)
            warm = timed(call)
            rows.append((page, name, cold, warm))
    return rows


def start_of_minute(latest_s: float = 15.0) -> None:
    """Wait for a fresh minute unless it just began, so a cold and a warm run share one.

    The heavy reads are cached per whole minute; a minute ending between the
    two runs would make the warm run cold again.
    """
    into = time.time() % 60
    if into > latest_s:
        time.sleep(60 - into)


def time_pages(url: str) -> list[tuple[str, float, float]]:
    """AppTest runs of each page: cold (caches cleared) and warm (again, within the TTL).

    The Live run goes through app.py and st.navigation; the others run the page
    file directly (AppTest's switch_page before the first run), which still
    passes the same access gate.
    """
    import streamlit as st
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    config.set_option("server.address", "127.0.0.1")
    sys.argv = [str(APP), "--db", url]  # what `streamlit run app.py -- --db URL` gives the app
    out = []
    for page, query in (
        ("live", None),
        ("stability 24h", "24h"),
        ("stability 7d", "7d"),
        ("stability 30d", "30d"),
        ("settings", None),
        ("reports", None),
    ):
        st.cache_data.clear()
        start_of_minute()
        path = {"live": None, "settings": "pages/settings.py", "reports": "pages/reports.py"}.get(
            page, "pages/stability.py"
        )
        times = []
        for _ in range(2):
            at = AppTest.from_file(str(APP), default_timeout=120)
            if query:
                at.query_params["range"] = query
            if path:
                at.switch_page(path)
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")
        out.append((page, times[0], times[1]))
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GB RAM"
    except OSError:
        mem = "RAM unknown"
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between rounds")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file to build/reuse")
    parser.add_argument("--rebuild", action="store_true", help="build even if a fresh one exists")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print the docs section too")
    args = parser.parse_args(argv)
    # before time_pages, which points sys.argv at the app the way Streamlit does
    command = " ".join([".venv/bin/python bench/dashboard.py", *(argv or sys.argv[1:])])
    sys.path.insert(0, str(ROOT))

    meta = None if args.rebuild else reusable(args.db, args.days, args.users, args.every)
    if meta is None:
        print(
            f"building {args.days:g} days x {86400 / args.every:g} rounds/day x {args.users} "
            f"users into {args.db} ...",
            file=sys.stderr,
        )
        meta = build(args.db, args.days, args.users, args.every, args.seed)
    else:
        migrated = upgrade(args.db)
        if migrated:
            print(f"migrated the reused database: {migrated}", file=sys.stderr)
    size_mb = args.db.stat().st_size / 1e6
    url = f"sqlite:///{args.db}"
    print(f"machine: {machine()}")
    print(
        f"database: {meta['rounds']:,} rounds, {meta['sessions']:,} sessions over "
        f"{meta['days']:g} days, {size_mb:,.0f} MB; built in {meta['build_s']:,} s "
        f"({meta['rounds'] / max(meta['build_s'], 0.001):,.0f} rounds/s via save_round)"
    )
    queries = time_queries(url)
    pages = time_pages(url)
    lines = ["", "| page | query | cold (s) | warm (s) |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {p} | {q} | {c:.3f} | {w:.3f} |" for p, q, c, w in queries]
    lines += ["", "| page (AppTest run) | cold (s) | warm (s) |", "| --- | ---: | ---: |"]
    lines += [f"| {p} | {c:.2f} | {w:.2f} |" for p, c, w in pages]
    print("\n".join(lines))
    if args.markdown:
        print("\n## Dashboard\n")
        print(f"`{command.strip()}` on {machine()}.\n")
        print(
            f"Database: {meta['rounds']:,} rounds, {meta['sessions']:,} sessions "
            f"({meta['days']:g} days, one round every {meta['every_s']:g} s of {meta['users']} "
            f"users), {size_mb:,.0f} MB SQLite, written with `save_round` in "
            f"{meta['build_s']:,} s."
        )
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
