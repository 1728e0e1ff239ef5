"""The exporter's all-time rollup of counters, histograms and last-round gauges.

``exposition_series`` holds, per (probe, target, runner), every counter and
histogram bucket of ``/metrics`` summed over all rounds ever saved, and the
gauges of the newest round; ``save_round`` adds to it in the round's own
transaction. Existing rounds are not backfilled: counters start at the upgrade
(a Prometheus counter may start anywhere; it must only never go down).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exposition_series",
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric", "label", "bucket", "probe", "target", "runner",
            name="pk_exposition_series",
        ),
        sqlite_with_rowid=False,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("exposition_series")
