"""Hourly roll-ups beside the per-minute ones, filled here from them.

``session_rollup_hour`` sums ``session_rollup_minute`` per hour and counts the
rounds' auth checks; ``sli_hour_cache`` sums ``sli_minute_cache`` per hour. The
exporter's 30-day (and all-time) sums read about 60 times fewer rows. Both are
filled here, in the migration, from the minute tables and ``rounds`` (set-based:
seconds for a year of minutes), so no scrape or page ever waits for them;
from then on ``save_round`` keeps them (``probes.results.hourly``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SESSION_COUNTS = (
    "sessions",
    "ok",
    "complete_in_order",
    "not_1011",
    "no_foreign",
    "connected",
    "planned",
)
_LABELS = ("probe", "target", "runner")


def _counts(names: tuple[str, ...]) -> list[sa.Column[object]]:
    return [sa.Column(n, sa.Integer(), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "session_rollup_hour",
        sa.Column("minute", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.String(), nullable=False) for n in _LABELS),
        *_counts((*SESSION_COUNTS, "auth_checks", "auth_ok")),
        sa.PrimaryKeyConstraint("minute", *_LABELS, name="pk_session_rollup_hour"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "sli_hour_cache",
        sa.Column("sli", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.String(), nullable=False) for n in _LABELS),
        *_counts(("good", "valid")),
        sa.PrimaryKeyConstraint(
            "sli", "threshold", "operation", "minute", *_LABELS, name="pk_sli_hour_cache"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sli_hour_cache_minute", "sli_hour_cache", ["minute"])
    hour = "(minute / 60) * 60"
    labels = ", ".join(_LABELS)
    zeros = ", ".join(f"0 AS {n}" for n in SESSION_COUNTS)
    # One pass over the minute rows and the rounds' covering index, summed per hour.
    op.execute(
        f"INSERT INTO session_rollup_hour (minute, {labels}, {', '.join(SESSION_COUNTS)}, "
        f"auth_checks, auth_ok) "
        f"SELECT h, {labels}, {', '.join(f'SUM({n})' for n in SESSION_COUNTS)}, "
        f"SUM(auth_checks), SUM(auth_ok) FROM ("
        f"SELECT {hour} AS h, {labels}, {', '.join(SESSION_COUNTS)}, "
        f"0 AS auth_checks, 0 AS auth_ok FROM session_rollup_minute "
        f"UNION ALL SELECT {hour} AS h, {labels}, {zeros}, 1 AS auth_checks, "
        f"CASE WHEN auth_ok THEN 1 ELSE 0 END AS auth_ok FROM rounds "
        f"WHERE auth_ok IS NOT NULL"
        f") AS both_tables GROUP BY h, {labels}"
    )
    op.execute(
        f"INSERT INTO sli_hour_cache (sli, threshold, operation, minute, {labels}, good, valid) "
        f"SELECT sli, threshold, operation, {hour}, {labels}, SUM(good), SUM(valid) "
        f"FROM sli_minute_cache GROUP BY sli, threshold, operation, {hour}, {labels}"
    )


def downgrade() -> None:
    op.drop_table("sli_hour_cache")
    op.drop_table("session_rollup_hour")
