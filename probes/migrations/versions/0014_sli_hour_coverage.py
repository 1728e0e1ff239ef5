"""Per-hour SLI cache coverage, filled here from the per-minute coverage.

``sli_hour_coverage`` holds one row per (sli, threshold, operation, hour) all
60 of whose minutes have ``sli_minute_coverage`` rows. A read of a year of
SLI counts checked every minute's coverage row (525,600 per definition); it now
checks one row per whole hour and the minutes at the edges. Filled here in one
grouped pass; from then on every write of the minute coverage recomputes its
hours in the same transaction (``probes.results.hourly.rehour_coverage``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sli_hour_coverage",
        sa.Column("sli", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "sli", "threshold", "operation", "minute", name="pk_sli_hour_coverage"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sli_hour_coverage_minute", "sli_hour_coverage", ["minute"])
    hour = "(minute / 60) * 60"
    op.execute(
        f"INSERT INTO sli_hour_coverage (sli, threshold, operation, minute) "
        f"SELECT sli, threshold, operation, {hour} FROM sli_minute_coverage "
        f"GROUP BY sli, threshold, operation, {hour} HAVING COUNT(*) = 60"
    )


def downgrade() -> None:
    op.drop_table("sli_hour_coverage")
