"""The per-minute SLI cache of the threshold SLIs.

``sli_minute_cache`` holds exact good/valid counts per SLI definition (sli,
threshold, operation), minute and (probe, target, runner); ``sli_minute_coverage``
names the (definition, minute) pairs whose counts are all in the cache, so a
minute never computed is told apart from a minute with no events. Both start
empty: reads fill them (``probes.results.sli_cache``), ``save_round`` empties the
minutes a round falls in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _definition_and_minute() -> list[sa.Column[object]]:
    return [
        sa.Column("sli", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sli_minute_cache",
        *_definition_and_minute(),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "sli", "threshold", "operation", "minute", "probe", "target", "runner",
            name="pk_sli_minute_cache",
        ),
        sqlite_with_rowid=False,  # clustered by key: a 30-day read is one range scan
    )  # fmt: skip
    op.create_index("ix_sli_minute_cache_minute", "sli_minute_cache", ["minute"])
    op.create_table(
        "sli_minute_coverage",
        *_definition_and_minute(),
        sa.PrimaryKeyConstraint(
            "sli", "threshold", "operation", "minute", name="pk_sli_minute_coverage"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sli_minute_coverage_minute", "sli_minute_coverage", ["minute"])


def downgrade() -> None:
    op.drop_table("sli_minute_coverage")
    op.drop_table("sli_minute_cache")
