"""The exporter's reads and its all-time rollup: what ``/metrics`` needs, without raw scans.

``exposition_series`` holds, per (probe, target, runner), each counter and
histogram bucket summed over every round saved since revision 0005, and the
gauges of the newest round that ran. ``save_round`` adds a round to it in the
round's own transaction (``add_rounds``), so a scrape reads a few hundred rows
whatever the history, the counters never go down (they live in the store, not
in the exporter), and several runners writing into one store never count a
round twice: each round is saved once, under its own runner's label.

The SLO series come from the per-minute rollups (``session_rollup_minute`` and
the SLI cache) in one grouped query per objective: ``slo_segments``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.records import RoundResult
from probes.results.schema import exposition_series, rounds

# Upper bounds (seconds) of the latency histograms; fixed: stored buckets depend on them.
SECONDS_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
HISTOGRAMS = ("ws_connecting", "first_event", "completion", "db_operation")
GAUGES = ("round_success", "round_duration", "memory_bytes", "memory_growth_bytes")
MB = 1024 * 1024
_x = exposition_series.c

Increments = defaultdict[tuple[str, str, str], float]  # (metric, label, bucket) -> added


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One stored series value of one (probe, target, runner)."""

    metric: str
    label: str
    bucket: str
    probe: str
    target: str
    runner: str
    value: float
    at: float  # gauges: the round's start (epoch s); counters: 0


def bucket_of(seconds: float) -> str:
    """The histogram bucket a value falls in: its smallest upper bound, or '+Inf'."""
    i = bisect.bisect_left(SECONDS_BUCKETS, seconds)
    return repr(SECONDS_BUCKETS[i]) if i < len(SECONDS_BUCKETS) else "+Inf"


def round_counts(r: RoundResult) -> Increments:
    """The counter and histogram increments of one round: (metric, label, bucket) -> n."""
    c: Increments = defaultdict(float)
    # The counters without a label of their own exist (at 0) from a series' first
    # round on: a query for them finds 0, not "no data" (rate() needs the 0, too).
    for name in ("ws_sessions", "ws_msgs_sent", "ws_msgs_received", "isolation_foreign_events"):
        c[name, "", ""] += 0
    c["rounds", "", ""] += 1
    c["rounds_skipped", "", ""] += r.status == "skipped"
    for s in r.sessions:
        c["ws_sessions", "", ""] += 1
        if s.outcome != "ok":
            c["ws_sessions_failed", s.reason or "unknown", ""] += 1
        if s.close_code is not None:
            c["ws_close_codes", str(s.close_code), ""] += 1
        if s.http_status is not None:
            c["ws_handshake_refusals", str(s.http_status), ""] += 1
        if s.http_status is None and s.connect_ms is not None:
            c["ws_msgs_sent", "", ""] += 1  # the one chat message of a session
        c["ws_msgs_received", "", ""] += len(s.events)
        c["isolation_foreign_events", "", ""] += s.foreign_events
        for name, ms in (
            ("ws_connecting", s.connect_ms),
            ("first_event", s.first_event_ms),
            ("completion", s.completion_ms),
        ):
            _observe(c, name, "", ms)
    for t in r.db_timings:
        ms = t.server_ms if t.server_ms is not None else t.client_ms
        _observe(c, "db_operation", t.operation, ms)
    return c


def _observe(c: Increments, name: str, label: str, ms: float | None) -> None:
    if ms is None:
        return
    c[name, label, bucket_of(ms / 1000)] += 1
    c[name, label, "sum"] += ms / 1000


def round_gauges(r: RoundResult) -> dict[str, float]:
    """The gauges of a round that ran (none for a skipped round)."""
    if r.status == "skipped":
        return {}
    out = {
        "round_success": 1.0 if r.status == "passed" else 0.0,
        "round_duration": (r.finished_at - r.started_at).total_seconds(),
    }
    if r.memory_after_mb is not None:
        out["memory_bytes"] = r.memory_after_mb * MB
    if r.memory_growth_mb is not None:
        out["memory_growth_bytes"] = r.memory_growth_mb * MB
    return out


def add_rounds(conn: Connection, batch: Sequence[RoundResult]) -> None:
    """Add the rounds' counters and set their gauges (unless a newer round's are stored).

    One statement for the counters and one for the gauges, whatever the batch's
    size: each key's increments summed, each key's gauge the batch's newest (the
    last of equals, as one round after another would leave it).
    """
    counters: dict[tuple[str, ...], float] = defaultdict(float)
    gauges: dict[tuple[str, ...], tuple[float, float]] = {}
    for r in batch:
        labels = (r.probe, r.target, r.runner)
        for (m, lab, b), n in round_counts(r).items():
            counters[(m, lab, b, *labels)] += float(n)
        at = r.started_at.timestamp()
        for m, v in round_gauges(r).items():
            key = (m, "", "", *labels)
            if key not in gauges or at >= gauges[key][1]:
                gauges[key] = (v, at)
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    keys = ["metric", "label", "bucket", "probe", "target", "runner"]
    # Sorted keys: concurrent writers on PostgreSQL lock rows in the same order.
    if counters:
        add = dialect.insert(exposition_series)
        stmt = add.on_conflict_do_update(
            index_elements=keys, set_={"value": exposition_series.c.value + add.excluded.value}
        )
        rows = [
            dict(zip(keys, k, strict=True)) | {"value": n, "at": 0.0}
            for k, n in sorted(counters.items())
        ]
        conn.execute(stmt, rows)
    if gauges:
        put = dialect.insert(exposition_series)
        newer = put.excluded.at >= _x.at
        stmt = put.on_conflict_do_update(
            index_elements=keys,
            set_={
                "value": case((newer, put.excluded.value), else_=_x.value),
                "at": case((newer, put.excluded.at), else_=_x.at),
            },
        )
        rows = [
            dict(zip(keys, k, strict=True)) | {"value": v, "at": at}
            for k, (v, at) in sorted(gauges.items())
        ]
        conn.execute(stmt, rows)


def series(engine: Engine) -> list[SeriesRow]:
    """Every stored series row, in key order."""
    query = select(
        _x.metric, _x.label, _x.bucket, _x.probe, _x.target, _x.runner, _x.value, _x.at
    ).order_by(_x.probe, _x.target, _x.runner, _x.metric, _x.label, _x.bucket)
    with engine.connect() as conn:
        return [SeriesRow(*row) for row in conn.execute(query)]


def ping(engine: Engine) -> None:
    """One trivial read; raises the database's error when the store cannot answer."""
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(rounds).where(rounds.c.run_id == ""))


Labels = tuple[str, str, str]  # probe, target, runner
Segment = tuple[int, int, int, int]  # good, valid, and both outside maintenance
Pause = tuple[int, int, str | None]  # maintenance minutes [a, b) of one target (None: all)


def segment_sums(
    conn: Connection,
    base: Select[Any],
    labels: Sequence[Any],
    minute: Any,
    counts: Sequence[tuple[Any, Any]],
    bounds: Sequence[int],
    maintenance: Sequence[Pause],
) -> dict[Labels, list[list[Segment]]]:
    """Good and valid counts of ``base``'s rows per (probe, target, runner), pair and segment.

    ``labels`` are the probe, target and runner columns, ``minute`` the epoch-minute
    column, ``counts`` the (good, valid) expression pairs summed (several SLIs read
    in one pass). Segment i holds the minutes in ``[bounds[i - 1], bounds[i])``
    (segment 0 from the start of time, the last one from the last bound on);
    ``maintenance`` ranges apply to their target's rows only (every row when the
    target is None). Each segment has (good, valid, good outside maintenance,
    valid outside maintenance); ``out[labels][pair][segment]``.
    """
    # Inline values: PostgreSQL needs each GROUP BY expression to be the selected one.
    seg = case(
        *((minute < _int(b), _int(i)) for i, b in enumerate(bounds)), else_=_int(len(bounds))
    )
    paused = [
        and_(
            minute >= _int(a),
            minute < _int(b),
            *([] if t is None else [labels[1] == literal(t, literal_execute=True)]),
        )
        for a, b, t in maintenance
    ]
    off = case((or_(*paused), _int(1)), else_=_int(0)) if paused else None
    # The segment is computed once per row in a subquery, then grouped by name.
    inner = base.add_columns(
        labels[0].label("p"), labels[1].label("t"), labels[2].label("r"),
        seg.label("seg"), (off if off is not None else _int(0)).label("off"),
        *(x.label(f"x{k}") for k, x in enumerate(x for pair in counts for x in pair)),
    ).subquery()  # fmt: skip
    keys = [inner.c.p, inner.c.t, inner.c.r, inner.c.seg, inner.c.off]
    sums = [func.sum(inner.c[f"x{k}"]) for k in range(2 * len(counts))]
    query = select(*keys, *sums).group_by(*keys)
    empty = [(0, 0, 0, 0)] * (len(bounds) + 1)
    out: dict[Labels, list[list[Segment]]] = {}
    for probe, target, runner, i, is_off, *values in conn.execute(query):
        pairs = out.setdefault((probe, target, runner), [list(empty) for _ in counts])
        kept = not int(is_off)
        for k, segs in enumerate(pairs):
            g, v = int(values[2 * k] or 0), int(values[2 * k + 1] or 0)
            g0, v0, g1, v1 = segs[int(i)]
            segs[int(i)] = (g0 + g, v0 + v, g1 + g * kept, v1 + v * kept)
    return out


def _int(n: int) -> Any:
    # Written into the SQL at execution (literal_execute), as PostgreSQL's GROUP BY needs,
    # but one compiled statement for every value: an inlined literal_column made every
    # evaluation (the bounds move with "now") a new entry of the engine's compiled cache,
    # and `slawatch run`, which evaluates on every round, grew by ~40 MB/h (issue 10.9).
    return literal(int(n), Integer, literal_execute=True)
