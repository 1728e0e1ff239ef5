"""Day roll-ups: the SLI cache and the session counts per UTC day, filled from the hours.

``sli_day_cache`` holds the sums of each day's ``sli_hour_cache`` rows,
``sli_day_coverage`` one row per (sli, threshold, operation, day) all 24 of whose
hours have ``sli_hour_coverage``, and ``session_rollup_day`` the sums of each day's
``session_rollup_hour`` rows. A year of objectives in day buckets read 8,760 hour
rows per definition and location; it now reads 365. Filled here in one grouped pass
each; from then on every write of the hours writes their days in the same
transaction (``probes.results.hourly``: ``rehour_sli``, ``add_counts``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

KEY = ("sli", "threshold", "operation", "minute")
LABELS = ("probe", "target", "runner")
SESSION_COUNTS = (
    "sessions", "ok", "complete_in_order", "not_1011", "no_foreign", "connected", "planned",
    "auth_checks", "auth_ok",
)  # fmt: skip


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sli", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sli_day_coverage",
        *_key_columns(),
        sa.PrimaryKeyConstraint(*KEY, name="pk_sli_day_coverage"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sli_day_coverage_minute", "sli_day_coverage", ["minute"])
    op.create_table(
        "sli_day_cache",
        *_key_columns(),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, "probe", "target", "runner", name="pk_sli_day_cache"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sli_day_cache_minute", "sli_day_cache", ["minute"])
    op.create_table(
        "session_rollup_day",
        sa.Column("minute", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.String(), nullable=False) for n in LABELS),
        *(sa.Column(n, sa.Integer(), nullable=False) for n in SESSION_COUNTS),
        sa.PrimaryKeyConstraint("minute", *LABELS, name="pk_session_rollup_day"),
        sqlite_with_rowid=False,
    )
    day = "(minute / 1440) * 1440"
    labels = ", ".join(LABELS)
    op.execute(
        f"INSERT INTO session_rollup_day (minute, {labels}, {', '.join(SESSION_COUNTS)}) "
        f"SELECT {day}, {labels}, {', '.join(f'SUM({n})' for n in SESSION_COUNTS)} "
        f"FROM session_rollup_hour GROUP BY {day}, {labels}"
    )
    op.execute(
        f"INSERT INTO sli_day_coverage (sli, threshold, operation, minute) "
        f"SELECT sli, threshold, operation, {day} FROM sli_hour_coverage "
        f"GROUP BY sli, threshold, operation, {day} HAVING COUNT(*) = 24"
    )
    op.execute(
        f"INSERT INTO sli_day_cache "
        f"(sli, threshold, operation, minute, probe, target, runner, good, valid) "
        f"SELECT sli, threshold, operation, {day}, probe, target, runner, SUM(good), SUM(valid) "
        f"FROM sli_hour_cache GROUP BY sli, threshold, operation, {day}, probe, target, runner"
    )


def downgrade() -> None:
    op.drop_table("session_rollup_day")
    op.drop_table("sli_day_cache")
    op.drop_table("sli_day_coverage")
