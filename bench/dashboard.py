"""Dashboard at scale: a history of several probes and runners, then time every page.

Builds the database with the real store code: generated ``RoundResult``
records of ``--probes`` probes x ``--runners`` runners, one round each every
``--every`` seconds over ``--days`` days, stored with ``ResultStore.save_rounds``
(batches in one transaction each, with the writer filling the SLI cache of
the configured objectives, as a runner does), pruned to ``--raw-days`` of
raw rows as it grows (every generated week) and once more at the end (rounds,
rollups, histograms and the cache stay), as the runner's retention does.
Then prints, for each page, how long its queries take without
the cache (cold: the first visit, right after the build) and with it (warm),
and the page itself cold and warm: its script's own run (what a user of a
running server waits for) and AppTest's total (which adds a scan of the
installed components per new ``AppTest``, ~0.5 s); on SQLite, and on PostgreSQL
too with ``--pg URL``: the bench makes its own schema in that database
(``bench_dashboard_<size>``), builds there, and drops it at the end
(``--keep-pg`` keeps it, and a later run of the same size reuses it, as the
SQLite file is reused).

    .venv/bin/python bench/dashboard.py                 # build (or reuse) and time
    .venv/bin/python bench/dashboard.py --days 1        # a quick look
    .venv/bin/python bench/dashboard.py --probes 10 --runners 3 --days 365 --raw-days 90 \
        --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/dashboard.py --markdown      # also print the docs section

The SQLite file is kept in artifacts/bench/ and reused while its newest round
is less than a day old and its sizes match (``--rebuild`` forces a new one);
so is a kept PostgreSQL schema (its facts are in ``<schema>.json`` beside the
SQLite file). A reused store is first brought to the newest schema (timed).
Figures, not asserts.
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
from contextlib import contextmanager
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


@dataclass(frozen=True)
class Labels:
    """Which probe and runner a generated round belongs to."""

    probe: str = "default"
    runner: str = "bench"


def make_session(
    rng: random.Random,
    run_id: str,
    user: int,
    started: datetime,
    bad: float,
    slow: float,
    labels: Labels = Labels(),
) -> Any:
    """One user's session: ok, or failed in one of the ways real targets fail."""
    from probes.records import SessionResult

    connect = rng.lognormvariate(1.6, 0.4)
    first = connect + rng.lognormvariate(4.1, 0.35) * slow
    done = first + rng.lognormvariate(5.8, 0.3) * slow
    base: dict[str, Any] = {
        "run_id": run_id,
        "probe": labels.probe,
        "target": TARGET,
        "runner": labels.runner,
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
    labels: Labels = Labels(),
) -> Any:
    """One round of ``users`` sessions with its auth check, DB timings and memory samples."""
    from probes.records import AuthCheck, DbTiming, MemorySample, RoundResult, round_status

    run_id = uuid.uuid4().hex
    bad = shape.incident_rate if incident else shape.fail_rate
    slow = 1.25 if after_deploy else 1.0
    sessions = tuple(make_session(rng, run_id, u, started, bad, slow, labels) for u in range(users))
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
        probe=labels.probe,
        target=TARGET,
        runner=labels.runner,
        started_at=started,
        finished_at=started + timedelta(seconds=1.4),
        status=round_status(sessions, auth, timings),
        sessions=sessions,
        auth_check=auth,
        db_timings=timings,
        memory_samples=samples,
        memory_source="healthz",
    )


@dataclass(frozen=True)
class Size:
    """What to build: how many probes, runners, days, users, how often, how much raw."""

    days: float = 30.0
    users: int = 10
    every_s: float = 60.0
    probes: int = 1
    runners: int = 1
    raw_days: float | None = None  # None: keep every raw row
    seed: int = 7

    def labels(self) -> list[Labels]:
        if self.probes == 1 and self.runners == 1:
            return [Labels()]
        return [
            Labels(f"probe-{p}", f"runner-{r}")
            for p in range(self.probes)
            for r in range(self.runners)
        ]


def rounds(size: Size, end: datetime) -> Iterator[Any]:
    """The history, oldest first: an incident 3 days before the end, a deploy 5 days before."""
    rng = random.Random(size.seed)
    shape = Shape()
    count = int(size.days * 86400 / size.every_s)
    start = end - timedelta(seconds=count * size.every_s)
    incident = (end - timedelta(days=3), end - timedelta(days=3) + timedelta(hours=2))
    deploy = end - timedelta(days=5)
    every = size.labels()
    for i in range(count):
        at = start + timedelta(seconds=i * size.every_s)
        for labels in every:
            yield make_round(
                rng,
                at,
                size.users,
                shape,
                incident=incident[0] <= at < incident[1],
                after_deploy=at >= deploy,
                labels=labels,
            )


BATCH = 100  # rounds per save_rounds transaction
PRUNE_EVERY = timedelta(days=7)  # of generated time: retention runs as the history grows


def build(url: str, size: Size) -> dict[str, Any]:
    """Write the history with ``save_rounds``, prune it to the raw days; returns what was built."""
    from probes.config import default_slos
    from probes.records import Annotation
    from probes.results import ResultStore

    end = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    n = sessions = 0
    with ResultStore.open(url) as store:
        store.track_slis(default_slos())  # as a runner does at start: the writer fills the cache
        batch: list[Any] = []
        pruned_at: datetime | None = None
        for r in rounds(size, end):
            batch.append(r)
            n += 1
            sessions += len(r.sessions)
            if len(batch) == BATCH:
                store.save_rounds(batch)
                batch = []
                pruned_at = rolling_prune(store, size, r.started_at, pruned_at)
            if n % 20000 == 0:
                print(
                    f"  {n:,} rounds, {sessions:,} sessions, {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        store.save_rounds(batch)
        loaded_s = time.perf_counter() - started
        if size.raw_days is not None:
            raw_before = end - timedelta(days=size.raw_days)
            store.prune(raw_before, end - timedelta(days=size.days + 1))
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
    return {
        "end": end.isoformat(),
        "rounds": n,
        "sessions": sessions,
        "size": size.__dict__,
        "load_s": round(loaded_s, 1),
        "build_s": round(time.perf_counter() - started, 1),
    }


def rolling_prune(store: Any, size: Size, now: datetime, pruned_at: datetime | None) -> Any:
    """Drop raw rows older than ``--raw-days`` before ``now`` once a generated week has passed.

    A runner's retention keeps its raw tables about ``raw_days`` long while it
    writes; so does the build (PostgreSQL's inserts slowed from 67 to ~40
    rounds/s as a year of raw rows piled up, only to be pruned at the end).
    Returns when it last pruned. The final ``prune`` still runs after the load.
    """
    if size.raw_days is None:
        return None
    if pruned_at is not None and now - pruned_at < PRUNE_EVERY:
        return pruned_at
    store.prune_older_than(now - timedelta(days=size.raw_days), batch_size=5000)
    return now


def pg_schema(size: Size) -> str:
    """The bench's own PostgreSQL schema for ``size`` (a name that says what is in it)."""
    every = f"{size.every_s:g}s"
    raw = "all" if size.raw_days is None else f"{size.raw_days:g}"
    name = (
        f"bench_dashboard_{size.probes}p{size.runners}r{size.days:g}d{raw}raw{size.users}u{every}"
    )
    return name.replace(".", "_")


def _pg(url: str, statement: str) -> bool:
    """Run one statement on the server of ``url`` (psycopg: the bench's own DDL); any rows?"""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0]
    with psycopg.connect(plain, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.description is not None and cursor.fetchone() is not None


def pg_store(url: str, schema: str) -> str:
    """``url`` with its connections in ``schema`` (``search_path``)."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


def fresh_pg(url: str, schema: str) -> str:
    _pg(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    _pg(url, f'CREATE SCHEMA "{schema}"')
    return pg_store(url, schema)


def drop_pg(url: str, schema: str) -> None:
    _pg(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def reusable_pg(url: str, schema: str, meta_path: Path, size: Size) -> dict[str, Any] | None:
    found = _pg(url, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'")
    return reusable_meta(meta_path, size) if found else None


def fresh_sqlite(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", ".json"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def reusable(path: Path, size: Size) -> dict[str, Any] | None:
    return reusable_meta(Path(f"{path}.json"), size) if path.exists() else None


def reusable_meta(meta_path: Path, size: Size) -> dict[str, Any] | None:
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    fresh = datetime.now(UTC) - datetime.fromisoformat(meta["end"]) < timedelta(days=1)
    return meta if fresh and meta.get("size") == size.__dict__ else None


def upgrade(url: str) -> str:
    """Bring a reused database to the newest schema (what ``slawatch`` does on start)."""
    from probes.config import default_slos
    from probes.results import ResultStore

    with ResultStore(url) as store:
        before = store.schema_version()
    started = time.perf_counter()
    with ResultStore.open(url) as store:
        after = store.schema_version()
        migrated = time.perf_counter() - started
        store.track_slis(default_slos())  # what the runner then does before any read
    if before == after:
        return ""
    took = time.perf_counter() - started
    return f"{before} -> {after} in {migrated:.1f} s, SLI cache filled by {took:.1f} s"


# --- timing ------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def page_queries(url: str, days: float) -> dict[str, list[tuple[str, Callable[[], Any]]]]:
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
    spans = [(label, d) for label, d in (("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90),
                                         ("1y", 365)) if d <= max(days, 1)]  # fmt: skip
    for label, span in spans:
        since = until - timedelta(days=span)
        b = chartdata.bucket_for(since, until)
        s = since
        out[f"stability {label}"] = [
            ("labels", lambda: queries.labels(url)),
            ("objectives", lambda s=s: queries.objectives(url, settings, s, until, every)),
            ("objectives by location", lambda s=s: queries.objectives_by_location(
                url, settings, s, until, every)),
            ("latency percentiles", lambda s=s, b=b: queries.latency(url, s, until, every, b)),
            ("memory", lambda s=s, b=b: queries.memory(url, s, until, every, b)),
            ("close codes", lambda s=s, b=b: queries.close_codes(url, s, until, every, b)),
            ("completeness", lambda s=s, b=b: queries.completeness(url, s, until, every, b)),
            ("db timings", lambda s=s, b=b: queries.db_timings(url, s, until, every, b)),
            ("annotations", lambda s=s: queries.notes(url, s, until, None)),
        ]  # fmt: skip
    label, span = spans[-1]
    out[f"report {label}"] = [("build_report", lambda: report(url, settings, span, until))]
    return out


def report(url: str, settings: Any, days: float, until: datetime) -> Any:
    """The report over the last ``days`` (what ``slawatch report`` builds before rendering)."""
    from dashboard.report.model import build_report
    from probes.results import ResultStore

    with ResultStore(url) as store:
        since = until - timedelta(days=days)
        return build_report(store, settings, since=since, until=until, now=until)


def time_queries(url: str, days: float) -> list[tuple[str, str, float, float]]:
    import streamlit as st

    rows = []
    for page, calls in page_queries(url, days).items():
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


@contextmanager
def script_clock() -> Iterator[list[float]]:
    """Times of each page script's run, as Streamlit's script runner spends it.

    What a server spends on a page view: the script from its first line to its
    last. ``AppTest`` adds its own work around it (a new ``AppTest`` scans every
    installed package for components, about 0.5 s here, which a server does
    once at its start, and polls for the script's end), so its total is printed
    too, but the aims are read on the script's run.
    """
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    runs: list[float] = []
    original = ScriptRunner._run_script

    def timed_run(self: Any, rerun_data: Any) -> None:
        started = time.perf_counter()
        try:
            original(self, rerun_data)
        finally:
            runs.append(time.perf_counter() - started)

    ScriptRunner._run_script = timed_run  # type: ignore[method-assign]
    try:
        yield runs
    finally:
        ScriptRunner._run_script = original  # type: ignore[method-assign]


def time_pages(url: str, days: float) -> list[tuple[str, float, float, float, float]]:
    """Each page cold (caches cleared) and warm (again, within the TTL): (page, script
    cold, script warm, AppTest cold, AppTest warm).

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
    ranges = [r for r, d in (("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90), ("1y", 365))
              if d <= max(days, 1)]  # fmt: skip
    pages = [("live", None), *((f"stability {r}", r) for r in ranges)]
    for page, query in [*pages, ("settings", None), ("reports", None)]:
        st.cache_data.clear()
        start_of_minute()
        path = {"live": None, "settings": "pages/settings.py", "reports": "pages/reports.py"}.get(
            page, "pages/stability.py"
        )
        totals = []
        with script_clock() as scripts:
            for _ in range(2):
                at = AppTest.from_file(str(APP), default_timeout=120)
                if query:
                    at.query_params["range"] = query
                if path:
                    at.switch_page(path)
                started = time.perf_counter()
                at.run()
                totals.append(time.perf_counter() - started)
                if at.exception:
                    raise RuntimeError(f"{page}: {at.exception[0].value}")
        out.append((page, scripts[0], scripts[-1], totals[0], totals[1]))
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
    parser.add_argument("--days", type=float, default=30.0, help="days of history")
    parser.add_argument("--raw-days", type=float, help="days of raw rows kept (default: all)")
    parser.add_argument("--probes", type=int, default=1)
    parser.add_argument("--runners", type=int, default=1)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between rounds")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file to build/reuse")
    parser.add_argument("--pg", help="also build and time PostgreSQL (in the bench's own schema)")
    parser.add_argument("--keep-pg", action="store_true", help="keep (and reuse) that schema")
    parser.add_argument("--only-pg", action="store_true", help="skip the SQLite half")
    parser.add_argument("--build-only", action="store_true", help="build (or reuse), time nothing")
    parser.add_argument("--rebuild", action="store_true", help="build even if a fresh one exists")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print the docs section too")
    args = parser.parse_args(argv)
    if args.raw_days is not None and args.raw_days >= args.days:
        args.raw_days = None  # raw rows of the whole history: nothing to prune
    # before time_pages, which points sys.argv at the app the way Streamlit does
    command = " ".join([".venv/bin/python bench/dashboard.py", *(argv or sys.argv[1:])])
    sys.path.insert(0, str(ROOT))
    size = Size(args.days, args.users, args.every, args.probes, args.runners, args.raw_days,
                args.seed)  # fmt: skip
    schema = pg_schema(size)
    pg_meta = args.db.parent / f"{schema}.json"
    stores = [] if args.only_pg and args.pg else [("sqlite", f"sqlite:///{args.db}")]
    stores += [("postgresql", args.pg)] if args.pg else []
    lines = [f"machine: {machine()}, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    try:
        for name, url in stores:
            lines += time_store(name, url, args, size, schema, pg_meta)
    finally:
        if args.pg and not args.keep_pg:
            drop_pg(args.pg, schema)
            pg_meta.unlink(missing_ok=True)
            print(f"dropped the PostgreSQL schema {schema}", file=sys.stderr)
    print("\n".join(lines))
    if args.markdown:
        print(f"\n`{command.strip()}`\n")
        print("\n".join(lines))
    return 0


def time_store(
    name: str, url: str, args: argparse.Namespace, size: Size, schema: str, pg_meta: Path
) -> list[str]:
    """Build (or reuse) one store, then time its queries and pages: the report's lines."""
    if name == "sqlite":
        meta = None if args.rebuild else reusable(args.db, size)
        meta_path = Path(f"{args.db}.json")
    else:
        meta = None if args.rebuild else reusable_pg(url, schema, pg_meta, size)
        meta_path = pg_meta
    if meta is None:
        print(f"building {size} into {name} ...", file=sys.stderr)
        target = fresh_sqlite(args.db) if name == "sqlite" else fresh_pg(url, schema)
        meta = build(target, size)
        meta_path.write_text(json.dumps(meta, indent=1))
    elif migrated := upgrade(url if name == "sqlite" else pg_store(url, schema)):
        print(f"migrated the reused database: {migrated}", file=sys.stderr)
        meta["migrated"] = migrated
    if name == "postgresql":
        url = pg_store(url, schema)
    lines = [
        "",
        f"{name}: {meta['rounds']:,} rounds, {meta['sessions']:,} sessions, "
        f"{size.probes} probes x {size.runners} runners over {size.days:g} days "
        f"(raw rows: {'all' if size.raw_days is None else f'last {size.raw_days:g} days'}), "
        f"{stored_mb(url):,.0f} MB; loaded in {meta['load_s']:,} s "
        f"({meta['rounds'] / max(meta['load_s'], 0.001):,.0f} rounds/s via save_rounds), "
        f"built (with the prune) in {meta['build_s']:,} s"
        + (f"; reused, migrated {meta['migrated']}" if meta.get("migrated") else ""),
    ]
    print(lines[-1], file=sys.stderr)
    if args.build_only:
        return lines
    queries = time_queries(url, size.days)
    pages = time_pages(url, size.days)
    lines += ["", "| page | query | cold (s) | warm (s) |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {p} | {q} | {c:.3f} | {w:.3f} |" for p, q, c, w in queries]
    lines += [
        "",
        "| page | script cold (s) | script warm (s) | AppTest cold (s) | AppTest warm (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {p} | {c:.2f} | {w:.2f} | {ac:.2f} | {aw:.2f} |" for p, c, w, ac, aw in pages]
    lines.append(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return lines


def stored_mb(url: str) -> float:
    """The store's tables and indexes, in MB (``ResultStore.stored_bytes``)."""
    from probes.results import ResultStore

    with ResultStore(url) as store:
        return store.stored_bytes() / 1e6


if __name__ == "__main__":
    sys.exit(main())
