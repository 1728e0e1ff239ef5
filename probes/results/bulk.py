"""Many rows into one table fast: ``COPY`` on PostgreSQL, one ``executemany`` on SQLite.

``save_round`` sends a round's sessions, events, memory samples and DB
timings through here, and so does the dashboard bench when it builds a
history (the store's own tables, columns and types). On PostgreSQL,
row-by-row ``INSERT`` of a 1000-session round's 7000 events was 42 % of
``save_round``; ``COPY`` streams them in one statement.
Session ids are taken from the table's sequence first, so the events can name
their session without a ``RETURNING`` round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, text
from sqlalchemy.exc import DBAPIError

from probes.results.schema import to_utc


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts keyed by column name, all with the same keys) into ``table``."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_value(row[n]) for n in names])
    except dbapi_error as exc:  # the same error type as any other statement's
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc
    finally:
        cursor.close()


def new_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh values of ``table.id``, ascending (PostgreSQL: from its sequence)."""
    if conn.dialect.name == "postgresql":
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return sorted(conn.execute(query, {"table": table.name, "n": count}).scalars())
    # SQLite: the writer holds the write lock (BEGIN IMMEDIATE), so max(id) is stable.
    top = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def _value(value: Any) -> Any:
    return to_utc(value) if isinstance(value, datetime) else value
