"""The SLI cache per UTC day, and its coverage, filled here from the hour tables.

``sli_day_cache`` holds the sums of each day's ``sli_hour_cache`` rows and
``sli_day_coverage`` one row per (sli, threshold, operation, day) all 24 of whose
hours have ``sli_hour_coverage``. A year of objectives in day buckets read 8,760
hour rows per definition and location; it now reads 365. Filled here in one
grouped pass each; from then on every write of the hours recomputes their days in
the same transaction (``probes.results.hourly.rehour_sli``).

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
    day = "(minute / 1440) * 1440"
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
    op.drop_table("sli_day_cache")
    op.drop_table("sli_day_coverage")
