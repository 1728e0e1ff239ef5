"""Every objective's good and valid events per series and segment of minutes, for ``/metrics``.

The exporter needs, for every objective and (probe, target, runner), the
all-time counts (the ``_total`` counters) and the counts of the objective's
window and of each burn-rate window, at every scrape. A few grouped queries
over the rollups answer all of them at once, each reading whole hours from the
hourly roll-ups and only the hours a window edge cuts from the per-minute ones
(``hourly.sums``): the count SLIs and ``auth_rejection`` read
``session_rollup_hour`` (and ``session_rollup_minute``, the rounds' covering
index), each threshold SLI its hours of the SLI cache (filled first for the
minutes it lacks, as ``sli_counts`` does, plus the raw rows of the newest
round's minute, which the cache never holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    case,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.engine import Engine

from probes.config import SloSettings
from probes.records import Filters
from probes.results import hourly, sli, sli_cache
from probes.results.exposition import Labels, Pause, Segment, segment_sums
from probes.results.schema import (
    epoch_minute,
    rounds,
    session_rollup,
    session_rollup_hour,
    sli_hour_cache,
    sli_minute_cache,
)

_ONE = literal_column("1", Integer)
_ZERO = literal_column("0", Integer)
BySeries = dict[Labels, list[Segment]]
Built = tuple[Select[Any], Sequence[Any], list[tuple[Any, Any]]]


def slo_segments(
    engine: Engine,
    writer: Engine,
    slos: Sequence[SloSettings],
    bounds: Sequence[int],
    maintenance: Sequence[Pause],
    until: datetime,
) -> dict[str, BySeries]:
    """Counts of each objective (by name) per series and segment (``segment_sums``)."""
    out: dict[str, BySeries] = {}
    groups = (
        ([s for s in slos if s.sli in sli.SESSION_COUNT_SLIS], _session_counts),
        ([s for s in slos if s.sli == "auth_rejection"], _auth_counts),
        ([s for s in slos if s.sli in sli.CACHED_SLIS], _cached_counts),
    )
    for chosen, read in groups:
        if chosen:
            out |= read(engine, writer, chosen, bounds, maintenance, until)
    return out


def _only(column: Any, slo: SloSettings, value: Any) -> Any:
    """``value`` for the objective's probe's rows (all rows without a probe), else 0."""
    if slo.probe is None:
        return value
    return case((column == literal(slo.probe, literal_execute=True), value), else_=_ZERO)


def _split(
    slos: Sequence[SloSettings], found: dict[Labels, list[list[Segment]]]
) -> dict[str, BySeries]:
    out: dict[str, BySeries] = {s.name: {} for s in slos}
    for labels, pairs in found.items():
        for slo, segs in zip(slos, pairs, strict=True):
            if any(v for _, v, _, _ in segs):
                out[slo.name][labels] = segs
    return out


def _session_counts(
    engine: Engine, writer: Engine, slos: Sequence[SloSettings], bounds: Sequence[int],
    maintenance: Sequence[Pause], until: datetime,
) -> dict[str, BySeries]:  # fmt: skip
    def build(table: Table) -> Built:
        c = table.c
        pairs = [
            (
                _only(c.probe, s, c[sli.SESSION_COUNT_SLIS[s.sli][1].name]),
                _only(c.probe, s, _valid(c, s)),
            )
            for s in slos
        ]
        return select().select_from(table), (c.probe, c.target, c.runner), pairs

    span = hourly.in_spans(session_rollup.c.bucket, _at)  # the minute table's primary key
    with engine.connect() as conn:
        found = hourly.sums(
            conn, session_rollup, session_rollup_hour, build, span, bounds, maintenance
        )
    return _split(slos, found)


def _valid(c: Any, slo: SloSettings) -> Any:
    """Valid sessions, as ``sli_counts`` counts them (planned closes out unless counted)."""
    if slo.sli == "session_success" and not slo.count_planned_closes:
        return c.sessions - c.planned
    return c.sessions


def _auth_counts(
    engine: Engine, writer: Engine, slos: Sequence[SloSettings], bounds: Sequence[int],
    maintenance: Sequence[Pause], until: datetime,
) -> dict[str, BySeries]:  # fmt: skip
    def build(table: Table) -> Built:
        c = table.c
        good: Any
        valid: Any
        checked: ColumnElement[bool]
        if table is rounds:
            good, valid, checked = case((c.auth_ok, 1), else_=0), _ONE, c.auth_ok.is_not(None)
        else:
            good, valid, checked = c.auth_ok, c.auth_checks, c.auth_checks > 0
        pairs = [(_only(c.probe, s, good), _only(c.probe, s, valid)) for s in slos]
        return select().select_from(table).where(checked), (c.probe, c.target, c.runner), pairs

    span = hourly.in_spans(rounds.c.started_at, _at)  # the rounds' covering index
    with engine.connect() as conn:
        found = hourly.sums(conn, rounds, session_rollup_hour, build, span, bounds, maintenance)
    return _split(slos, found)


def _cached_counts(
    engine: Engine, writer: Engine, slos: Sequence[SloSettings], bounds: Sequence[int],
    maintenance: Sequence[Pause], until: datetime,
) -> dict[str, BySeries]:  # fmt: skip
    with engine.connect() as conn:  # started_at leads an index (minute none): two seeks
        oldest = conn.execute(select(func.min(rounds.c.started_at))).scalar_one()
        latest = conn.execute(select(func.max(rounds.c.started_at))).scalar_one()
    if oldest is None or latest is None:
        return {s.name: {} for s in slos}
    first, newest = epoch_minute(oldest), epoch_minute(latest)
    out: dict[str, BySeries] = {}
    for s in slos:
        # One query per definition: its rows are one range of the cache's primary key
        # (a CASE per definition over all of them sorted several times more rows).
        definition, source = sli.cache_definition(s), sli.cache_source(s)
        # A no-op when the runner tracks the objective (sli_tracking): the usual case.
        sli_cache.fill(writer, definition, source, int(first), int(newest))
        tail = source(sli_cache.minute_start(int(newest)), until, Filters(probe=s.probe))
        with engine.connect() as conn:  # the newest round's minute comes from its raw rows
            found = hourly.sums(
                conn, sli_minute_cache, sli_hour_cache, _cache_build(definition, s.probe),
                hourly.in_minutes(sli_minute_cache.c.minute), bounds, maintenance,
                limit=int(newest),
            )  # fmt: skip
            recent = segment_sums(
                conn, tail.query, tail.labels, tail.table.c.minute,
                [(case((tail.good, 1), else_=0), _ONE)], bounds, maintenance,
            )  # fmt: skip
        for labels, (segs,) in recent.items():
            (mine,) = found.setdefault(labels, [[(0, 0, 0, 0)] * len(segs)])
            found[labels] = [[_add(a, b) for a, b in zip(mine, segs, strict=True)]]
        out |= _split([s], found)
    return out


def _cache_build(definition: sli_cache.Definition, probe: str | None) -> hourly.Build:
    """One definition's rows (of one probe, if the objective names it) in either cache table."""

    def build(table: Table) -> Built:
        c = table.c
        only = [] if probe is None else [c.probe == probe]
        base = select().select_from(table).where(*definition.where(table), *only)
        return base, (c.probe, c.target, c.runner), [(c.good, c.valid)]

    return build


def _at(minute: int) -> datetime:
    return sli_cache.minute_start(minute)


def _add(a: Segment, b: Segment) -> Segment:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])
