"""The hourly roll-ups: long windows read whole hours, not 60 times as many minute rows.

``session_rollup_hour`` holds the per-minute session counts of
``session_rollup_minute`` summed per hour (and the rounds' auth checks), added to
by ``save_round`` in the round's transaction; ``sli_hour_cache`` holds the SLI
cache summed per hour, recomputed from ``sli_minute_cache`` for every hour a
write of the minute cache touches (``sli_cache``), in the same transaction, and
``sli_hour_coverage`` the hours whose every minute is covered; ``sli_day_cache``
and ``sli_day_coverage`` the same per UTC day, recomputed from the hours in that
transaction too. So an hour row always equals the sum of its minutes and a day row
the sum of its hours, and revisions 0011, 0014 and 0015 fill them from the tables
below: no reader ever builds them.

``sums`` answers what ``exposition.segment_sums`` answers over a minute table,
from both tables: each hour that no segment bound, maintenance edge or limit
cuts comes from its hour row, the few cut hours from their minute rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from probes.results.exposition import Labels, Pause, Segment, segment_sums
from probes.results.schema import (
    session_rollup_day,
    session_rollup_hour,
    sli_day_cache,
    sli_day_coverage,
    sli_hour_cache,
    sli_hour_coverage,
    sli_minute_cache,
    sli_minute_coverage,
)

MINUTE, HOUR, DAY = 1, 60, 1440  # the widths of the roll-up rows, in minutes
WIDTHS = (MINUTE, HOUR, DAY)
# Counts of session_rollup_hour, each the sum of the minute table's column of that name.
SESSION_COUNTS = (
    "sessions",
    "ok",
    "complete_in_order",
    "not_1011",
    "no_foreign",
    "connected",
    "planned",
)
AUTH_COUNTS = ("auth_checks", "auth_ok")


def hour_of(minute: int) -> int:
    """The first epoch minute of the hour ``minute`` falls in."""
    return minute // HOUR * HOUR


def widths_for(bucket_s: int) -> list[int]:
    """The row widths whose rows each lie inside one bucket of ``bucket_s`` (epoch-aligned)."""
    return [w for w in WIDTHS if bucket_s // 60 % w == 0]


def cover(first: int, last: int, widths: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(width, from, to)`` spans of epoch minutes covering ``[first, last)``: the widest
    width (of ``widths``, ascending, each a multiple of the one before) for the
    whole rows inside, the narrower ones at both edges."""
    if first >= last:
        return []
    *narrower, width = widths
    lo, hi = -(-first // width) * width, last // width * width
    if not narrower:
        return [(width, first, last)]
    if lo >= hi:
        return cover(first, last, narrower)
    return [*cover(first, lo, narrower), (width, lo, hi), *cover(hi, last, narrower)]


def add_counts(conn: Connection, counts: dict[tuple[int, str, str, str], Counter[str]]) -> None:
    """Add counts keyed by (epoch minute, probe, target, runner) to their hours' rows and
    their days' rows."""
    for table, width in ((session_rollup_hour, HOUR), (session_rollup_day, DAY)):
        spans: dict[tuple[int, str, str, str], Counter[str]] = {}
        for (minute, probe, target, runner), c in counts.items():
            spans.setdefault((minute // width * width, probe, target, runner), Counter()).update(c)
        rows = [
            {"minute": k[0], "probe": k[1], "target": k[2], "runner": k[3]} | dict(c)
            for k, c in spans.items()
        ]
        key, names = ("minute", "probe", "target", "runner"), (*SESSION_COUNTS, *AUTH_COUNTS)
        add_rows(conn, table, key, names, rows)


def add_rows(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    names: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert ``rows`` into ``table``, adding their counts ``names`` to those of an existing
    row of the same ``key`` (the minute and hour roll-ups). A count a row lacks is 0."""
    if not rows:
        return
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    upsert = dialect.insert(table)
    stmt = upsert.on_conflict_do_update(
        index_elements=list(key), set_={n: table.c[n] + upsert.excluded[n] for n in names}
    )
    # Sorted keys: concurrent writers on PostgreSQL lock rows in the same order.
    ordered = sorted(rows, key=lambda r: tuple(r[k] for k in key))
    conn.execute(stmt, [r | {n: r.get(n, 0) for n in names} for r in ordered])


def rehour_sli(
    conn: Connection, first: int, last: int, key: tuple[str, float, str] | None = None
) -> None:
    """Recompute the SLI hour rows of the hours holding minutes ``first..last`` (inclusive),
    then the day rows of their days from the hours (``sli_day_cache``).

    ``key``: only that definition's (sli, threshold, operation); None: every one.
    """
    _resum(conn, sli_minute_cache, sli_hour_cache, HOUR, first, last, key)
    _resum(conn, sli_hour_cache, sli_day_cache, DAY, first, last, key)
    rehour_coverage(conn, first, last, key)


def _resum(
    conn: Connection,
    narrow: Table,
    wide: Table,
    width: int,
    first: int,
    last: int,
    key: tuple[str, float, str] | None,
) -> None:
    """Recompute ``wide``'s rows (spans of ``width`` minutes) holding minutes ``first..last``
    as the sums of ``narrow``'s rows in them."""
    a, b = first // width * width, last // width * width + width
    w, n = wide.c, narrow.c
    conn.execute(delete(wide).where(*_only(wide, key), w.minute >= a, w.minute < b))
    keys = [n.sli, n.threshold, n.operation, floor_column(n.minute, width), n.probe, n.target,
            n.runner]  # fmt: skip
    summed = (
        select(*keys, func.sum(n.good), func.sum(n.valid))
        .where(*_only(narrow, key), n.minute >= a, n.minute < b)
        .group_by(*keys)
    )
    names = ["sli", "threshold", "operation", "minute", "probe", "target", "runner"]
    conn.execute(insert(wide).from_select([*names, "good", "valid"], summed))


def rehour_coverage(
    conn: Connection, first: int, last: int, key: tuple[str, float, str] | None = None
) -> None:
    """Recompute ``sli_hour_coverage`` of the hours holding minutes ``first..last``, then
    ``sli_day_coverage`` of their days.

    An hour is covered when all 60 of its minutes are, a day when all 24 of its hours
    are: ``sli_cache`` then needs one row per day, not 1,440, to know a long window's
    minutes are all cached.
    """
    _recover(conn, sli_minute_coverage, sli_hour_coverage, HOUR, 60, first, last, key)
    _recover(conn, sli_hour_coverage, sli_day_coverage, DAY, 24, first, last, key)


def _recover(
    conn: Connection,
    narrow: Table,
    wide: Table,
    width: int,
    parts: int,
    first: int,
    last: int,
    key: tuple[str, float, str] | None,
) -> None:
    """Recompute ``wide``'s coverage rows (spans of ``width`` minutes) holding minutes
    ``first..last``: a span is covered when all ``parts`` of its ``narrow`` rows are."""
    a, b = first // width * width, last // width * width + width
    w, n = wide.c, narrow.c
    conn.execute(delete(wide).where(*_only(wide, key), w.minute >= a, w.minute < b))
    keys = [n.sli, n.threshold, n.operation, floor_column(n.minute, width)]
    whole = (
        select(*keys)
        .where(*_only(narrow, key), n.minute >= a, n.minute < b)
        .group_by(*keys)
        .having(func.count() == parts)
    )
    conn.execute(insert(wide).from_select(["sli", "threshold", "operation", "minute"], whole))


def _only(table: Table, key: tuple[str, float, str] | None) -> list[ColumnElement[bool]]:
    """The conditions selecting one definition's rows of ``table`` (none: every one)."""
    if key is None:
        return []
    c = table.c
    return [c.sli == key[0], c.threshold == key[1], c.operation == key[2]]


Build = Callable[[Table], tuple[Select[Any], Sequence[Any], list[tuple[Any, Any]]]]
# The minute table's rows of the given hours (first minutes), before ``limit`` if not None.
Rows = Callable[[Sequence[int], int | None], ColumnElement[bool]]


def sums(
    conn: Connection,
    minute_table: Table,
    hour_table: Table,
    build: Build,
    minute_rows: Rows,
    bounds: Sequence[int],
    maintenance: Sequence[Pause],
    limit: int | None = None,
) -> dict[Labels, list[list[Segment]]]:
    """``segment_sums`` of the minute table's rows, reading whole hours from the hour table.

    ``build(table)`` gives the base query, the (probe, target, runner) columns and
    the (good, valid) pairs over a table (the two tables name their columns
    alike); ``minute_rows(hours, limit)`` selects the minute table's rows of
    those hours (on an index: ``in_minutes``, ``in_spans``). ``limit``: only
    minutes before it.
    """
    edges = [*bounds, *(e for a, b, _ in maintenance for e in (a, b))]
    edges += [] if limit is None else [limit]
    cut = sorted({hour_of(e) for e in edges if e % HOUR})
    hour_base, hour_labels, hour_pairs = build(hour_table)
    h = hour_table.c
    whole: list[ColumnElement[bool]] = [h.minute.not_in(cut)] if cut else []
    whole += [] if limit is None else [h.minute + HOUR <= limit]
    found = segment_sums(
        conn, hour_base.where(*whole), hour_labels, h.minute, hour_pairs, bounds, maintenance
    )
    if not cut:
        return found
    base, labels, pairs = build(minute_table)
    minutes = segment_sums(
        conn, base.where(minute_rows(cut, limit)), labels, minute_table.c.minute, pairs,
        bounds, maintenance,
    )  # fmt: skip
    for key, per_pair in minutes.items():
        mine = found.setdefault(key, [[(0, 0, 0, 0)] * len(s) for s in per_pair])
        found[key] = [
            [_add(x, y) for x, y in zip(a, b, strict=True)]
            for a, b in zip(mine, per_pair, strict=True)
        ]
    return found


def in_minutes(column: Any) -> Rows:
    """``minute_rows`` as a list of the minutes: one primary-key lookup each.

    (A range per hour, OR-ed, made SQLite scan the definition's whole range.)
    """

    def rows(hours: Sequence[int], limit: int | None) -> ColumnElement[bool]:
        wanted = [m for a in hours for m in range(a, a + HOUR) if limit is None or m < limit]
        return column.in_(wanted)  # type: ignore[no-any-return]

    return rows


def in_spans(column: Any, at: Callable[[int], Any]) -> Rows:
    """``minute_rows`` as OR-ed ranges of ``column``, ``at(minute)`` its value (indexed)."""

    def rows(hours: Sequence[int], limit: int | None) -> ColumnElement[bool]:
        spans = [(a, a + HOUR if limit is None else min(a + HOUR, limit)) for a in hours]
        return or_(*(and_(column >= at(a), column < at(b)) for a, b in spans if a < b))

    return rows


def _add(a: Segment, b: Segment) -> Segment:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def floor_column(minute: Any, width: int) -> Any:
    """SQL: the first minute of the ``width``-minute span of an epoch-minute column."""
    n = literal_column(str(int(width)), Integer)
    return minute // n * n
