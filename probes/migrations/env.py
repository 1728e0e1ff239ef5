"""Alembic environment for the results store.

``ResultStore.upgrade()`` passes an open connection (already inside a write
transaction) as ``config.attributes["connection"]``, so no ``alembic.ini`` is
needed at run time. For writing a new revision by hand, ``sqlalchemy.url`` in
an ini file works as a fallback.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from probes.results import METADATA


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("slawatch migrations run online only (ResultStore.upgrade)")

_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _url = context.config.get_main_option("sqlalchemy.url")
    if not _url:
        raise RuntimeError("no connection passed and no sqlalchemy.url configured")
    with create_engine(_url).begin() as _conn:
        _run(_conn)
