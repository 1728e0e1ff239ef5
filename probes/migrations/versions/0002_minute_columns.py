"""Epoch-minute columns and covering indexes for the 30-day aggregates.

Adds ``minute`` (whole minutes since the Unix epoch of the row's time) to
rounds, sessions, db_timings and session_rollup_minute, fills it for the rows
already stored, and adds the covering indexes the SLI counts and the dashboard's
percentiles (and the per-status round counts of coverage) read instead
of the tables. The column stays nullable: SQLite can
only add a NOT NULL column by copying the table (and dropping ``sessions`` would
cascade to its events); ``save_round`` fills it for every new row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table -> the time column its minute is taken from
MINUTE_OF = {
    "rounds": "started_at",
    "sessions": "started_at",
    "db_timings": "started_at",
    "session_rollup_minute": "bucket",
}
SESSIONS_WINDOW = [
    "started_at", "minute", "probe", "target", "runner", "run_id", "http_status",
    "connect_ms", "first_event_ms", "completion_ms", "close_code",
]  # fmt: skip
DB_TIMINGS_WINDOW = [
    "started_at", "minute", "operation", "ok", "server_ms", "client_ms", "run_id",
]  # fmt: skip

ROUNDS_WINDOW = [
    "started_at", "minute", "probe", "target", "runner", "run_id", "status",
    "memory_growth_mb", "auth_ok",
]  # fmt: skip


def _minute_sql(column: str, dialect: str) -> str:
    """SQL for the epoch minute of ``column``, rounded down, as stored on ``dialect``."""
    if dialect == "sqlite":
        # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds, then minutes.
        return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) / 60"
    return f"CAST(floor(extract(epoch FROM {column}) / 60) AS INTEGER)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, column in MINUTE_OF.items():
        op.add_column(table, sa.Column("minute", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET minute = {_minute_sql(column, dialect)}")
    op.create_index("ix_sessions_window", "sessions", SESSIONS_WINDOW)
    op.create_index("ix_db_timings_window", "db_timings", DB_TIMINGS_WINDOW)
    op.create_index("ix_rounds_window", "rounds", ROUNDS_WINDOW)


def downgrade() -> None:
    op.drop_index("ix_db_timings_window", table_name="db_timings")
    op.drop_index("ix_sessions_window", table_name="sessions")
    op.drop_index("ix_rounds_window", table_name="rounds")
    for table in MINUTE_OF:
        # A plain ALTER TABLE (SQLite 3.35+): batch mode would copy and drop
        # the table, and dropping sessions cascades to its events.
        op.drop_column(table, "minute")
