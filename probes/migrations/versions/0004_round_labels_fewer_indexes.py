"""The label table kept by save_round; drop indexes another index's prefix duplicates.

``round_labels`` holds each (probe, target, runner) ever saved, filled here from
the existing rounds. ``ix_sessions_started_at``, ``ix_rounds_started_at`` and
``ix_db_timings_started_at`` index the first column of the covering
``ix_*_window`` indexes (revision 0002), which serve every query they served:
each cost bytes and time on every saved row for nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DUPLICATES = (
    ("ix_sessions_started_at", "sessions"),
    ("ix_rounds_started_at", "rounds"),
    ("ix_db_timings_started_at", "db_timings"),
)


def upgrade() -> None:
    op.create_table(
        "round_labels",
        sa.Column("probe", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("probe", "target", "runner", name="pk_round_labels"),
    )
    op.execute(
        "INSERT INTO round_labels (probe, target, runner) "
        "SELECT DISTINCT probe, target, runner FROM rounds"
    )
    for name, table in _DUPLICATES:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_index("ix_rounds_started_at", "rounds", ["started_at"])
    op.create_index("ix_db_timings_started_at", "db_timings", ["started_at"])
    op.drop_table("round_labels")
