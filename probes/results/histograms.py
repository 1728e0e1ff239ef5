"""Mergeable per-minute, per-hour and per-day histograms of latencies and DB timings.

Percentiles over a range used to rank every raw row in Python (1.0 s of a
30-day Stability page, and impossible beyond the raw retention). Instead
``save_round`` adds each value to a DDSketch-style histogram (the ``ddsketch``
library's logarithmic mapping, relative accuracy 1 %: bin ``k`` holds the values
in ``(gamma^(k-1), gamma^k]``, ``gamma = 1.0202``) of its minute, its hour and
its (UTC) day, per (probe, target, runner) and metric, and of its hour and day over
every location (``POOLED``: the labels all empty). Metrics: ``first_event`` and
``completion`` (ms, per session), ``db:<operation>`` (COALESCE(server_ms,
client_ms), per DB timing, with the failed count). A read sums the bins of the
rows in each chart bucket (constant cost per row, whatever the session count),
taking the widest rows that lie whole inside the window and inside one bucket
(a year in day buckets reads 365 day rows per series, not 8,760 hour rows),
and finds the nearest-rank percentile (the value ranked ceil(p * n / 100)) by
walking the bins in order, as ``ddsketch.DDSketch`` would, clamped to the
bucket's exact min and max.

Error: every percentile is within 1 % (relative) of the exact nearest-rank
value; the smallest and largest value of a bucket are exact.
Granularity: rows are whole minutes (the start of a session, or of a round for
DB timings): a window edge inside a minute counts that minute whole.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddsketch.mapping import LogarithmicMapping
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    String,
    and_,
    bindparam,
    func,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.records import Filters, RoundResult
from probes.results.hourly import DAY, HOUR, MINUTE, WIDTHS, cover, widths_for
from probes.results.query import attribute_filters, bucket
from probes.results.schema import epoch_minute
from probes.results.schema import histogram_table as histograms

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
ZERO = "z"  # the bin of values too small for the mapping (0 ms)
# Every location's values of an hour or a day are also merged into one row whose labels
# are all empty (no probe, target or runner is): a chart over every location reads one
# row per bucket and metric instead of one per location (30 at 10 probes x 3 runners).
POOLED = ("", "", "")
POOLED_WIDTHS = (HOUR, DAY)
SESSION_METRICS = ("first_event", "completion")
DB_PREFIX = "db:"
_KEYS_PER_STATEMENT = 500  # 6 bound values a key: well under SQLite's 32766


@dataclass
class Histogram:
    """Counts of one metric: values, failures (DB timings), exact min/max, and the bins."""

    count: int = 0
    failed: int = 0
    low: float | None = None
    high: float | None = None
    bins: Counter[str] = field(default_factory=Counter)

    def add(self, value: float | None, failed: bool = False, key: str | None = None) -> None:
        """Count one value (None: only ``failed``); ``key`` is its bin, if known."""
        self.failed += failed
        if value is None:
            return
        self.count += 1
        self.low = value if self.low is None or value < self.low else self.low
        self.high = value if self.high is None or value > self.high else self.high
        self.bins[bin_of(value) if key is None else key] += 1

    def merge(self, other: Histogram) -> None:
        self.count += other.count
        self.failed += other.failed
        for bound in (other.low, other.high):
            if bound is not None:
                self.low = bound if self.low is None else min(self.low, bound)
                self.high = bound if self.high is None else max(self.high, bound)
        self.bins.update(other.bins)

    def percentile(self, p: int) -> float | None:
        """The nearest-rank ``p``-th percentile, within 1 %; None without values."""
        return self.percentiles((p,))[0]

    def percentiles(self, ps: Sequence[int]) -> list[float | None]:
        """Nearest-rank percentiles (each within 1 %), the bins walked once; None without values.

        Nearest rank is the value ranked ceil(p * n / 100): the first bin, in
        value order, at which the running count reaches that rank (what
        ``DDSketch.get_quantile_value`` answers for the quantile whose rank
        ``q * (n - 1)`` falls inside it), as that bin's representative value.
        """
        n, low, high = self.count, self.low, self.high
        if not n or low is None or high is None:
            return [None for _ in ps]
        ranks = [max(1, -(-p * n // 100)) for p in ps]  # ceil(p * n / 100), in integers
        found: dict[int, float] = {}
        seen = 0
        bins = iter(self._ordered())
        for rank in sorted(set(ranks)):
            while seen < rank:
                key, weight = next(bins)
                seen += weight
                value = 0.0 if key is None else MAPPING.value(key)
            found[rank] = min(max(value, low), high)
        return [found[rank] for rank in ranks]

    def _ordered(self) -> list[tuple[int | None, int]]:
        """The bins in value order (the zero bin first, as None)."""
        zero = [(None, self.bins[ZERO])] if self.bins.get(ZERO) else []
        return zero + sorted((int(k), w) for k, w in self.bins.items() if k != ZERO and w)


Key = tuple[int, int, str, str, str, str]  # width, minute, probe, target, runner, metric


def add_to(
    found: dict[Key, Histogram],
    minute: int,
    labels: tuple[str, str, str],
    metric: str,
    value: float | None,
    failed: bool,
) -> None:
    """Add one value (None: no value, e.g. a refused session) to its minute, hour and day,
    and to the every-location rows of its hour and day."""
    binned = None if value is None else bin_of(value)
    for width in WIDTHS:
        start = minute // width * width
        found.setdefault((width, start, *labels, metric), Histogram()).add(value, failed, binned)
        if width in POOLED_WIDTHS:
            found.setdefault((width, start, *POOLED, metric), Histogram()).add(
                value, failed, binned
            )


def bin_of(value: float) -> str:
    """The DDSketch bin key of ``value`` (as stored in ``bins``)."""
    return ZERO if value <= MAPPING.min_possible else str(MAPPING.key(value))


def of_round(r: RoundResult) -> dict[Key, Histogram]:
    """The round's values, by minute, hour and day, per (probe, target, runner) and metric."""
    out: dict[Key, Histogram] = {}
    for s in r.sessions:
        minute, labels = epoch_minute(s.started_at), (s.probe, s.target, s.runner)
        add_to(out, minute, labels, "first_event", s.first_event_ms, False)
        add_to(out, minute, labels, "completion", s.completion_ms, False)
    minute = epoch_minute(r.started_at)
    for t in r.db_timings:
        ms = t.server_ms if t.server_ms is not None else t.client_ms
        add_to(out, minute, (r.probe, r.target, r.runner), DB_PREFIX + t.operation, ms, not t.ok)
    return out


def save(conn: Connection, found: dict[Key, Histogram]) -> None:
    """Merge ``found`` into the stored rows, in the caller's transaction.

    Placeholder rows first, then the rows locked (``FOR UPDATE`` on PostgreSQL;
    SQLite's writer holds the file lock), merged here and written back: two
    runners adding to one row never lose each other's counts. Keys sorted, so
    concurrent writers lock rows in one order.
    """
    keys = sorted(found)
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        _save_keys(conn, found, keys[start : start + _KEYS_PER_STATEMENT])


def _save_keys(conn: Connection, found: dict[Key, Histogram], keys: list[Key]) -> None:
    names = ("width", "minute", "probe", "target", "runner", "metric")
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    empty = {"count": 0, "failed": 0, "low": None, "high": None, "bins": "{}"}
    placeholders = [dict(zip(names, k, strict=True)) | empty for k in keys]
    conn.execute(dialect.insert(histograms).on_conflict_do_nothing(), placeholders)
    h = histograms.c
    if conn.dialect.name == "postgresql":
        # The keys as one array a column, joined: one statement shape for any count, and
        # no 500-row IN list of row values to plan (its planning alone was ~80 ms;
        # bench/histogram_save.py, docs/benchmarks.md "Issue 11 (stop 20)").
        arrays = [
            bindparam(f"keys_{n}", [k[i] for k in keys], type_=postgresql.ARRAY(h[n].type))
            for i, n in enumerate(names)
        ]
        wanted = func.unnest(*arrays).table_valued(*names).render_derived(name="wanted")
        on = and_(*(h[n] == wanted.c[n] for n in names))
        locked = (
            select(histograms)
            .join(wanted, on)
            .order_by(*(h[n] for n in names))
            .with_for_update(of=histograms)
        )
        queries = [locked]
    else:
        # SQLite reads a row-value IN list by scanning the whole table (a year of rows
        # on every save): each width's minutes bounded, it reads one key range.
        queries = []
        for width in sorted({k[0] for k in keys}):
            mine = [k for k in keys if k[0] == width]
            span = h.minute.between(min(k[1] for k in mine), max(k[1] for k in mine))
            ranged = select(histograms).where(h.width == width, span)
            queries.append(ranged.where(tuple_(*(h[n] for n in names)).in_(mine)))
    rows = []
    for query in queries:
        for row in conn.execute(query):
            key: Key = tuple(row._mapping[n] for n in names)
            merged = stored(row._mapping)
            merged.merge(found[key])
            rows.append(dict(zip(names, key, strict=True)) | columns(merged))
    write = histograms.update().where(*(h[n] == _param(n) for n in names))
    conn.execute(write.values({c: _param(c) for c in empty}), _renamed(rows))


def read(
    engine: Engine,
    since: datetime,
    until: datetime,
    filters: Filters,
    bucket_s: int,
    metrics: Sequence[str] | None = None,
    db: bool = False,
) -> dict[tuple[int, str], Histogram]:
    """Merged histograms per (bucket epoch seconds, metric) over the minutes of the window.

    ``metrics`` names session metrics; ``db`` selects every ``db:`` metric
    instead. ``bucket_s`` must be a multiple of 60. Each part of the window
    comes from the widest rows that lie whole inside it and inside one bucket
    (``cover``): days for day buckets, hours for hour multiples, else minutes;
    without a probe, target or runner filter, the hours and days from their
    every-location rows (``POOLED``).
    """
    first = epoch_minute(since)
    last = epoch_minute(until) + (until != until.replace(second=0, microsecond=0))
    spans = cover(first, last, widths_for(bucket_s))
    if not spans:
        return {}
    h = histograms.c
    wanted = h.metric.like(DB_PREFIX + "%") if db else h.metric.in_(metrics or ())
    attributes = attribute_filters(histograms, filters)
    if attributes:  # one location's rows, never the pooled ones
        span = or_(*(and_(h.width == w, h.minute >= a, h.minute < b) for w, a, b in spans))
        labels = [*attributes, h.probe != POOLED[0]]
    else:  # every location: the pooled rows of hours and days, each location's minutes
        pooled = and_(h.probe == POOLED[0], h.target == POOLED[1], h.runner == POOLED[2])
        span = or_(*(
            and_(h.width == w, h.minute >= a, h.minute < b, *([pooled] if w > MINUTE else []))
            for w, a, b in spans
        ))  # fmt: skip
        labels = []
    where = [span, wanted, *labels]
    sqlite = engine.dialect.name == "sqlite"
    start = bucket(histograms, h.minute, bucket_s, sqlite).label("b")
    # The bins are summed in the database (json_each), not decoded row by row here: a
    # 90-day chart in 12-hour buckets reads 50,000 hour rows (1 s of JSON in Python).
    if sqlite:
        pairs = func.json_each(h.bins).table_valued("key", "value").alias("j")
        count: ColumnElement[Any] = pairs.c.value
    else:  # a function in FROM after its table is LATERAL there
        pairs = func.json_each_text(sql_cast(h.bins, JSON)).table_valued("key", "value").alias("j")
        count = sql_cast(pairs.c.value, BigInteger)
    # Totals (key NULL) and bins in one statement: one snapshot on either database (two
    # statements under PostgreSQL's READ COMMITTED could see a write between them).
    totals = (
        select(start, h.metric, sql_cast(null(), String), func.sum(h.count), func.sum(h.failed),
               func.min(h.low), func.max(h.high))
        .where(*where)
        .group_by(start, h.metric)
    )  # fmt: skip
    bins = (
        select(start, h.metric, pairs.c.key, func.sum(count), null(), null(), null())
        .select_from(histograms.join(pairs, true()))
        .where(*where)
        .group_by(start, h.metric, pairs.c.key)
    )
    out: dict[tuple[int, str], Histogram] = {}
    with engine.connect() as conn:
        for b, metric, key, n, failed, low, high in conn.execute(union_all(totals, bins)):
            merged = out.setdefault((int(b), metric), Histogram())
            if key is None:  # the totals row: keep any bins already read
                out[(int(b), metric)] = Histogram(int(n), int(failed), low, high, merged.bins)
            elif n:
                merged.bins[str(key)] += int(n)
    return out


def stored(row: Any) -> Histogram:
    """A stored row (a mapping of its columns) as a ``Histogram``."""
    bins: Counter[str] = Counter(json.loads(row["bins"]))  # counts are stored as integers
    return Histogram(int(row["count"]), int(row["failed"]), row["low"], row["high"], bins)


def columns(x: Histogram) -> dict[str, Any]:
    """A ``Histogram`` as the columns of its stored row."""
    bins = json.dumps(dict(sorted(x.bins.items())), separators=(",", ":"))
    return {"count": x.count, "failed": x.failed, "low": x.low, "high": x.high, "bins": bins}


def _param(name: str) -> Any:
    return bindparam(f"p_{name}")


def _renamed(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f"p_{k}": v for k, v in row.items()} for row in rows]
