"""The writer keeps the SLI cache of the tracked objectives filled.

The cache (``sli_cache``) was filled by whichever read first lacked a minute:
the first Live page after an upgrade, or on a fresh store, waited 5.9 s (30
days) to 11.6 s (180 days) for it. A runner now names its objectives
(``track``, at start and with every prune): each definition is stored in
``sli_definitions`` and its missing minutes are counted there and then, in the
runner's process, a day per short write transaction. From then on
``save_round`` counts the minutes its round falls in again for every tracked
definition, in its own transaction (``refill``), so the cache of a tracked
objective is never missing a minute a reader asks for. On PostgreSQL that
transaction takes the cache's advisory lock exclusively, as a fill does.

Definitions nobody tracks (a threshold tried in a report) are still filled
by the read that needs them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from probes.results import sli_cache
from probes.results.schema import rounds, sli_definitions, sli_minute_coverage
from probes.results.sli_cache import Definition, Source

Tracked = Sequence[tuple[Definition, Source]]


def track(writer: Engine, tracked: Tracked) -> None:
    """Store the definitions and fill their cache over every minute with rounds."""
    if not tracked:
        return
    dialect = sqlite if writer.dialect.name == "sqlite" else postgresql
    rows = [{"sli": d.sli, "threshold": d.threshold, "operation": d.operation} for d, _ in tracked]
    with writer.begin() as conn:
        conn.execute(dialect.insert(sli_definitions).on_conflict_do_nothing(), rows)
    with writer.connect() as conn:
        span = select(func.min(rounds.c.minute), func.max(rounds.c.minute))
        first, last = conn.execute(span).one()
    if first is None:
        return
    for definition, source in tracked:
        sli_cache.fill(writer, definition, source, int(first), int(last) + 1)


def tracked_definitions(conn: Connection) -> list[Definition]:
    """The definitions ``save_round`` keeps filled."""
    c = sli_definitions.c
    query = select(c.sli, c.threshold, c.operation).order_by(c.sli, c.threshold, c.operation)
    return [Definition(s, float(t), o) for s, t, o in conn.execute(query)]


def refill(conn: Connection, tracked: Tracked, first: int, last: int) -> None:
    """Count minutes ``first..last`` (inclusive) again for every tracked definition.

    Minutes between the definition's newest covered minute and ``first`` (no
    round started in them: the runner was idle or down) are counted too, so
    that a reader finds every minute up to the newest round covered.
    """
    cov = sli_minute_coverage.c
    for definition, source in tracked:
        # ORDER BY .. LIMIT 1, not max(): one step back along the primary key whatever
        # the statistics (PostgreSQL, with none yet, read every index entry of the
        # definition for max(): a year of minutes on every save; docs/benchmarks.md).
        newest_query = (
            select(cov.minute)
            .where(*definition.where(sli_minute_coverage))
            .order_by(cov.minute.desc())
            .limit(1)
        )
        newest = conn.execute(newest_query).scalar()
        start = first if newest is None or newest >= first else int(newest) + 1
        sli_cache.recount(conn, definition, source, start, last + 1)
