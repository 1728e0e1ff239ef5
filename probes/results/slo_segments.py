"""Every objective's good and valid events per series and segment of minutes, for ``/metrics``.

The exporter needs, for every objective and (probe, target, runner), the
all-time counts (the ``_total`` counters) and the counts of the objective's
window and of each burn-rate window, at every scrape. A few grouped queries
over the per-minute rollups answer all of them at once: the count SLIs read
``session_rollup_minute`` in one pass, the threshold SLIs the SLI cache in one
pass (filled first for the minutes it lacks, as ``sli_counts`` does, plus the
raw rows of the newest round's minute, which the cache never holds), and
``auth_rejection`` the rounds' covering index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, func, literal, literal_column, select
from sqlalchemy.engine import Engine

from probes.config import SloSettings
from probes.records import Filters
from probes.results import sli, sli_cache
from probes.results.exposition import Labels, Pause, Segment, segment_sums
from probes.results.schema import rounds, session_rollup, sli_minute_cache

_ONE = literal_column("1", Integer)
_ZERO = literal_column("0", Integer)
BySeries = dict[Labels, list[Segment]]


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
    r = session_rollup.c
    pairs = [
        (_only(r.probe, s, sli.SESSION_COUNT_SLIS[s.sli][1]), _only(r.probe, s, r.sessions))
        for s in slos
    ]
    base = select().select_from(session_rollup)
    with engine.connect() as conn:
        found = segment_sums(
            conn, base, (r.probe, r.target, r.runner), r.minute, pairs, bounds, maintenance
        )
    return _split(slos, found)


def _auth_counts(
    engine: Engine, writer: Engine, slos: Sequence[SloSettings], bounds: Sequence[int],
    maintenance: Sequence[Pause], until: datetime,
) -> dict[str, BySeries]:  # fmt: skip
    q = rounds.c
    good = case((q.auth_ok, 1), else_=0)
    pairs = [(_only(q.probe, s, good), _only(q.probe, s, _ONE)) for s in slos]
    base = select().select_from(rounds).where(q.auth_ok.is_not(None))
    with engine.connect() as conn:
        found = segment_sums(
            conn, base, (q.probe, q.target, q.runner), q.minute, pairs, bounds, maintenance
        )
    return _split(slos, found)


def _cached_counts(
    engine: Engine, writer: Engine, slos: Sequence[SloSettings], bounds: Sequence[int],
    maintenance: Sequence[Pause], until: datetime,
) -> dict[str, BySeries]:  # fmt: skip
    with engine.connect() as conn:
        first = conn.execute(select(func.min(rounds.c.minute))).scalar_one()
        newest = conn.execute(select(func.max(rounds.c.minute))).scalar_one()
    if first is None or newest is None:
        return {s.name: {} for s in slos}
    c = sli_minute_cache.c
    out: dict[str, BySeries] = {}
    for s in slos:
        # One query per definition: its rows are one range of the cache's primary key
        # (a CASE per definition over all of them sorted several times more rows).
        definition, source = sli.cache_definition(s), sli.cache_source(s)
        sli_cache.fill(writer, definition, source, int(first), int(newest))
        only = [] if s.probe is None else [c.probe == s.probe]
        base = (
            select()
            .select_from(sli_minute_cache)
            .where(*definition.where(sli_minute_cache), c.minute < int(newest), *only)
        )
        tail = source(sli_cache.minute_start(int(newest)), until, Filters(probe=s.probe))
        with engine.connect() as conn:  # the newest round's minute comes from its raw rows
            found = segment_sums(
                conn, base, (c.probe, c.target, c.runner), c.minute, [(c.good, c.valid)],
                bounds, maintenance,
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


def _add(a: Segment, b: Segment) -> Segment:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])
